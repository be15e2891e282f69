"""PostgreSQL's outbox triggers lock each queue they write (a transaction-scoped advisory lock per queue, migration
15), so a transaction writing several queues holds several locks, taken in the order it writes them. Two such
transactions writing two queues in opposite orders would deadlock (PostgreSQL then aborts one: an inbox batch
quarantined for nothing, or a scheduled job lost). The rule that prevents it: every writer of several queues takes
the one lock of the queues' writers first (the inbox applier's, which it holds for its batch anyway), so at most one
of them holds queue locks at a time; a writer of a single queue holds one lock and waits for no other.

Each test plays the applier as it is in the middle of a batch — holding the applier's lock, having written incident
Q2's queue — on a connection of its own, lets another multi-queue writer start, and only then writes Q1's queue:
the opposite order to that writer's. Both must commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from bot.adapters.store.postgres.inbox import INBOX_LOCK
from bot.adapters.store.postgres.outbox import QUEUES_LOCK
from bot.adapters.store.postgres.store import PostgresStore
from bot.domain.effects import AlertOperators, PostTimelineEntry
from tests.pg_cluster import PostgresCluster
from tests.store.contract.builders import commit, drain, trigger

INSERT = ("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
          " VALUES (%s, %s, 'post_timeline_entry', '{}', 1, 0, 0)")


@pytest.fixture
async def store_and_url(postgres_cluster: PostgresCluster) -> AsyncIterator[tuple[PostgresStore, str]]:
    database = postgres_cluster.fresh_database()
    url = postgres_cluster.url(database)
    store = PostgresStore(url)
    await store.open()
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2))  # two open incidents, Q1 stored first
    await drain(store)  # their channels opened and cards drawn
    yield store, url
    await store.close()
    postgres_cluster.drop_database(database)


async def waiting_for_a_lock(url: str, writer: asyncio.Task[object]) -> None:
    """Until `writer` waits for an advisory lock (or has finished without); a minute at most."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        for _ in range(3000):
            if writer.done() or await (await watcher.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).fetchone():
                return
            await asyncio.sleep(0.02)


async def applier_meanwhile(url: str, queues: tuple[str, str], writing: asyncio.Event,
                            other_writer: asyncio.Task[object]) -> None:
    """The applier, mid-batch: its lock, `queues[0]` written (then `writing` is set); once `other_writer` waits for
    a lock, `queues[1]`."""
    async with await psycopg.AsyncConnection.connect(url) as applier:
        await applier.execute("SELECT pg_advisory_xact_lock(%s)", (INBOX_LOCK,))
        await applier.execute(INSERT, (queues[0].split(":")[1], queues[0]))
        writing.set()
        await waiting_for_a_lock(url, other_writer)
        await applier.execute(INSERT, (queues[1].split(":")[1], queues[1]))
        await applier.commit()


def test_the_queues_lock_is_the_appliers() -> None:
    assert QUEUES_LOCK == INBOX_LOCK


async def test_card_refreshes_queued_during_an_inbox_batch_do_not_deadlock(
        store_and_url: tuple[PostgresStore, str]) -> None:
    store, url = store_and_url
    writing = asyncio.Event()

    async def refreshes() -> int:
        await writing.wait()
        # Scans the incidents in stored order: slack:Q1 first, then slack:Q2 — the applier's opposite.
        return await store.queue_card_refreshes(now=1.0)
    writer: asyncio.Task[object] = asyncio.create_task(refreshes())
    async with asyncio.timeout(60):
        applier = asyncio.create_task(applier_meanwhile(url, ("slack:Q2", "slack:Q1"), writing, writer))
        done = await asyncio.gather(applier, writer, return_exceptions=True)
    assert not [d for d in done if isinstance(d, BaseException)], done
    assert done[1] == 2


async def test_an_effect_parked_dead_with_its_alert_during_an_inbox_batch_does_not_deadlock(
        store_and_url: tuple[PostgresStore, str]) -> None:
    store, url = store_and_url
    await store.queue_effect(PostTimelineEntry("Q1", "e1"), now=1.0)
    [effect] = await store.due_effects(now=2.0, limit=10, busy=[])
    alert = AlertOperators("operators", "a post could not be made")  # the operators' queue: slack:operators
    writing = asyncio.Event()

    async def park() -> bool:
        await writing.wait()
        # Leaves slack:Q1 (its head moves on), then queues the alert on the operators' queue.
        return await store.effect_dead(effect.seq, "gave up", alert, now=3.0)
    writer: asyncio.Task[object] = asyncio.create_task(park())
    async with asyncio.timeout(60):
        applier = asyncio.create_task(applier_meanwhile(url, (alert.queue, "slack:Q1"), writing, writer))
        done = await asyncio.gather(applier, writer, return_exceptions=True)
    assert not [d for d in done if isinstance(d, BaseException)], done
    assert done[1] is True
