"""Who PagerDuty users are in Slack, as last looked up (the PeopleCache port), in SQLite: one row per user."""

from __future__ import annotations

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.ports.store import CachedPerson, PeopleCache


class SqlitePeopleCache(SqlitePart, PeopleCache):
    async def person(self, pagerduty_user_id: str) -> CachedPerson | None:
        rows = await self._run(lambda: self._query("SELECT * FROM people WHERE pagerduty_user_id=?",
                                                   (pagerduty_user_id,)))
        return CachedPerson(**rows[0]) if rows else None

    async def save_person(self, person: CachedPerson) -> None:
        await self._run(lambda: self.db.table("people").upsert(vars(person), pk="pagerduty_user_id"))
