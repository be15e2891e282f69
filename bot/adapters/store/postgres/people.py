"""Who PagerDuty users are in Slack, as last looked up (the PeopleCache port), in PostgreSQL: one row per user."""

from __future__ import annotations

from dataclasses import asdict

from bot.adapters.store.postgres.connection import PostgresPart
from bot.ports.people_cache import CachedPerson, PeopleCache

COLUMNS = tuple(CachedPerson.__dataclass_fields__)


class PostgresPeopleCache(PostgresPart, PeopleCache):
    async def person(self, pagerduty_user_id: str) -> CachedPerson | None:
        rows = await self._query("SELECT * FROM people WHERE pagerduty_user_id=%s", (pagerduty_user_id,))
        return CachedPerson(**rows[0]) if rows else None

    async def save_person(self, person: CachedPerson) -> None:
        update = ", ".join(f"{c}=excluded.{c}" for c in COLUMNS if c != "pagerduty_user_id")
        await self._execute(f"INSERT INTO people ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
                            f" ON CONFLICT (pagerduty_user_id) DO UPDATE SET {update}", list(asdict(person).values()))
