"""Who PagerDuty users are in Slack, as last looked up (the PeopleCache port), in SQLite: one row per user."""

from __future__ import annotations

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.ports.people_cache import CachedPerson, PeopleCache


class SqlitePeopleCache(SqlitePart, PeopleCache):
    async def person(self, pagerduty_user_id: str) -> CachedPerson | None:
        rows = await self._run(lambda: self._query("SELECT * FROM people WHERE pagerduty_user_id=?",
                                                   (pagerduty_user_id,)))
        return CachedPerson(**rows[0]) if rows else None

    async def save_person(self, person: CachedPerson) -> None:
        record = vars(person)
        columns = ", ".join(record)
        update = ", ".join(f"{c}=excluded.{c}" for c in record if c != "pagerduty_user_id")
        sql = (f"INSERT INTO people ({columns}) VALUES ({', '.join('?' * len(record))})"
               f" ON CONFLICT (pagerduty_user_id) DO UPDATE SET {update}")

        def write() -> None:
            with self._transaction(light=True) as conn:  # a cache: lost with the machine, it is looked up again
                conn.execute(sql, tuple(record.values()))
        await self._run(write)
