"""Opening and closing a store: an empty store answers, what was stored is there after a restart, and a call after
closing is refused rather than left waiting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.ports.people_cache import CachedPerson
from bot.ports.store import Store
from tests.store.contract.builders import commit, trigger


async def test_an_empty_store_answers_and_its_queues_are_empty(store: Store) -> None:
    assert await store.ping()
    assert await store.depths() == {"inbox_pending": 0, "inbox_failed": 0, "outbox_pending": 0, "outbox_dead": 0}


async def test_what_was_stored_is_there_after_a_restart(make_store: Callable[[], Store]) -> None:
    decision = trigger("Q1")
    before = make_store()
    await before.open()
    await commit(before, decision)
    await before.save_person(CachedPerson("P1", "Dev", None, None, 1.0))
    await before.close()
    after = make_store()
    await after.open()
    try:
        assert await after.incident("Q1") == decision.incident
        assert await after.person("P1") == CachedPerson("P1", "Dev", None, None, 1.0)
        assert (await after.depths())["outbox_pending"] == 2
    finally:
        await after.close()


async def test_a_store_call_after_close_is_refused_not_left_waiting(make_store: Callable[[], Store]) -> None:
    store = make_store()
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.ping()
