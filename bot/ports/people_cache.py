"""The store's people port: who PagerDuty users are in Slack, as last looked up (`PeopleCache`, `CachedPerson`).

A store port like those of bot/ports/store.py (`Store` includes it), kept in a module of its own so that one stays
one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CachedPerson:
    """A PagerDuty user and the Slack user they are, as looked up at `fetched_at`."""

    pagerduty_user_id: str
    name: str | None
    email: str | None
    slack_user_id: str | None
    fetched_at: float


class PeopleCache(Protocol):
    """Who PagerDuty users are in Slack, as last looked up (the caller decides when an entry is too old)."""

    async def person(self, pagerduty_user_id: str) -> CachedPerson | None: ...
    async def save_person(self, person: CachedPerson) -> None:
        """Insert or replace the cached person."""
        ...
