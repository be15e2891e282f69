"""The PeopleCache port: who a PagerDuty user is in Slack, as last looked up; a new lookup replaces the old."""

from __future__ import annotations

from bot.ports.people_cache import CachedPerson
from bot.ports.store import Store


async def test_a_person_is_cached_and_replaced_by_a_newer_lookup(store: Store) -> None:
    assert await store.person("P1") is None
    first = CachedPerson("P1", "Dev", "dev@example.com", None, fetched_at=10.0)
    await store.save_person(first)
    await store.save_person(CachedPerson("P2", None, None, None, fetched_at=11.0))
    assert await store.person("P1") == first
    newer = CachedPerson("P1", "Dev Patel", "dev@example.com", "U123", fetched_at=20.0)
    await store.save_person(newer)
    assert await store.person("P1") == newer
    assert await store.person("P2") == CachedPerson("P2", None, None, None, fetched_at=11.0)
