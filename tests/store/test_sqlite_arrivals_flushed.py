"""Deliveries arriving together on the SQLite store (bot/adapters/store/sqlite/inbox.py `_arrive`): whatever the
interleaving of their flushes, every caller is answered, every delivery stored once and applied in arrival order —
including one whose caller stopped waiting for its answer (a client that hung up): it was handed to the store, and
is stored as if it had waited."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.incident import Decision, Incident
from bot.ports.store import Arrival, InboxRow, Skip
from tests.store.contract.builders import at, trigger


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
    return trigger(row.body)


async def arrive(store: SqliteStore, number: int) -> Arrival:
    return await store.record_and_apply(source="pagerduty", delivery_id=f"d{number}", event_id=f"e{number}",
                                        event_type="incident.triggered", incident_id=f"Q{number}",
                                        occurred_at=at(0), body=f"Q{number}", decide=decide, now=5.0)


async def test_deliveries_arriving_together_are_each_answered_stored_once_and_applied(
        sqlite_store: SqliteStore) -> None:
    arrivals = await asyncio.gather(*(arrive(sqlite_store, n) for n in range(64)))
    assert [a.stored and isinstance(a.outcome, Decision) and a.outcome.incident is not None
            and a.outcome.incident.id for a in arrivals] == [f"Q{n}" for n in range(64)]
    assert (await sqlite_store.depths())["inbox_pending"] == 0
    assert [a for a in await asyncio.gather(*(arrive(sqlite_store, n) for n in range(64)))] == [
        Arrival(stored=False, outcome=None)] * 64  # each stored once: sent again, each is a duplicate
    for n in range(64):
        assert await sqlite_store.incident(f"Q{n}") is not None


async def test_a_delivery_whose_caller_stopped_waiting_is_stored_and_those_beside_it_answered(
        sqlite_store: SqliteStore) -> None:
    callers = [asyncio.create_task(arrive(sqlite_store, n)) for n in range(20)]
    await asyncio.sleep(0)  # every caller has handed its delivery to the store
    for caller in callers[::2]:
        caller.cancel()
    answered = await asyncio.gather(*callers[1::2])
    assert all(a.stored and a.outcome is not None for a in answered)
    await asyncio.gather(*callers[::2], return_exceptions=True)
    # A caller after them is answered too (no flush is left waiting for a caller that went away).
    assert (await arrive(sqlite_store, 20)).stored
    for n in range(21):
        assert await sqlite_store.incident(f"Q{n}") is not None, n
    assert (await sqlite_store.depths())["inbox_pending"] == 0


async def test_in_one_transaction_a_row_left_pending_holds_back_only_its_incidents_later_rows(
        sqlite_store: SqliteStore) -> None:
    entered, release = threading.Event(), threading.Event()

    def deciding(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        if row.body == "Q0":  # the first delivery holds the store's thread while the others queue behind it
            entered.set()
            release.wait(30)
        if row.event_id == "a1":
            raise KeyError("a bug in one event")
        return trigger(row.body)

    async def arriving(event_id: str, incident_id: str) -> Arrival:
        return await sqlite_store.record_and_apply(source="pagerduty", delivery_id=event_id, event_id=event_id,
                                             event_type="incident.triggered", incident_id=incident_id,
                                             occurred_at=at(0), body=incident_id, decide=deciding, now=5.0)
    first = asyncio.create_task(arriving("gate", "Q0"))
    assert await asyncio.to_thread(entered.wait, 30)
    together = [asyncio.create_task(arriving(event_id, incident_id))
                for event_id, incident_id in (("a1", "QA"), ("b1", "QB"), ("a2", "QA"), ("b2", "QB"))]
    await asyncio.sleep(0)  # every one handed to the store: the next flush stores them all, in one transaction
    release.set()
    assert (await first).outcome is not None
    a1, b1, a2, b2 = await asyncio.gather(*together)
    assert (a1.outcome, a2.outcome) == (None, None)  # a1's decision failed: A's later row waits behind it
    assert isinstance(b1.outcome, Decision) and isinstance(b2.outcome, Decision)  # B's rows were not held back
    assert (await sqlite_store.depths())["inbox_pending"] == 2
