"""The SQLite store: group-committed intake, outbox ordering (per incident, high urgency first), migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.pagerduty.webhook import read_event
from bot.adapters.store.sqlite.migrations import MIGRATIONS
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import OpenIncidentChannel, PostTimelineEntry, RefreshCard
from bot.domain.incident import ChannelPolicy, Decision, apply_event
from tests.helpers import incident_event


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.db")
    await s.open()
    yield s
    await s.close()


async def record(store: SqliteStore, delivery: str, event: str) -> bool:
    return await store.record_delivery(source="pagerduty", delivery_id=delivery, event_id=event,
                                       event_type="incident.triggered", incident_id="Q1", occurred_at="t", body="{}")


async def test_concurrent_deliveries_are_each_answered_correctly(store: SqliteStore) -> None:
    results = await asyncio.gather(*(record(store, f"d{i % 50}", f"e{i % 50}") for i in range(200)))
    assert results.count(True) == 50
    assert (await store.depths())["inbox_pending"] == 50


def decision_for(incident_id: str, urgency: str) -> Decision:
    event = read_event(incident_event("incident.triggered", incident_id=incident_id, urgency=urgency, priority=None))
    return apply_event(None, event, ChannelPolicy())


async def test_effects_run_in_order_per_incident_and_high_urgency_first(store: SqliteStore) -> None:
    for seq, (incident_id, urgency) in enumerate([("LOW", "low"), ("HIGH", "high")], start=1):
        await record(store, f"d{seq}", f"e{seq}")
        await store.commit_decision(seq, decision_for(incident_id, urgency), now=100.0)
    due = await store.due_effects(now=100.0, limit=10, busy=[])
    # One effect per incident (the next in its order), the high-urgency incident's first.
    assert [(r.effect.incident_id, type(r.effect)) for r in due] == [("HIGH", OpenIncidentChannel),
                                                                     ("LOW", OpenIncidentChannel)]
    assert await store.due_effects(now=100.0, limit=10, busy=["slack:HIGH", "slack:LOW"]) == []
    await store.effect_done(due[0].seq)
    await store.effect_retry(due[1].seq, next_attempt_at=200.0, error="429")
    later = await store.due_effects(now=150.0, limit=10, busy=[])
    # LOW's channel waits for its retry, and its timeline entry waits behind it.
    assert [(r.effect.incident_id, type(r.effect)) for r in later] == [("HIGH", PostTimelineEntry)]


async def test_card_refreshes_are_not_queued_twice(store: SqliteStore) -> None:
    await record(store, "d1", "e1")
    await store.commit_decision(1, decision_for("Q1", "high"), now=1.0)
    # While the channel is still being opened, a refresh would add nothing.
    assert await store.queue_card_refreshes(now=2.0) == 0
    [opening] = await store.due_effects(now=5.0, limit=10, busy=[])
    assert isinstance(opening.effect, OpenIncidentChannel)
    await store.effect_done(opening.seq)
    assert await store.queue_card_refreshes(now=3.0) == 1
    assert await store.queue_card_refreshes(now=4.0) == 0
    performed = []
    while due := await store.due_effects(now=5.0, limit=10, busy=[]):
        performed.append(type(due[0].effect))
        await store.effect_done(due[0].seq)
    assert performed == [PostTimelineEntry, RefreshCard]


async def test_migrations_are_numbered_and_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        s = SqliteStore(tmp_path / "m.db")
        await s.open()
        await s.close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_failed_group_commit_answers_every_caller(store: SqliteStore, tmp_path: Path) -> None:
    # Another process holds the write lock (a backup, the sqlite3 shell): the batch cannot begin.
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    await store._run(lambda: store.db.execute("PRAGMA busy_timeout=50"))
    results = await asyncio.wait_for(asyncio.gather(*(record(store, f"d{i}", f"e{i}") for i in range(3)),
                                                    return_exceptions=True), timeout=10)
    assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
    other.execute("ROLLBACK")
    assert await record(store, "d9", "e9") is True
    assert (await store.depths())["inbox_pending"] == 1


async def test_a_key_is_seen_first_once_within_its_window_and_again_after_it(store: SqliteStore) -> None:
    firsts = await asyncio.gather(*(store.first_time("U1:ack:Q1", 5, 100.0) for _ in range(10)))
    assert firsts.count(True) == 1
    assert not await store.first_time("U1:ack:Q1", 5, 104.9)
    assert await store.first_time("U2:ack:Q1", 5, 104.9)
    assert await store.first_time("U1:ack:Q1", 5, 105.0)
