"""PostgreSQL's outbox triggers lock each queue they write (a transaction-scoped advisory lock per queue, migration
15), so a transaction writing several queues holds several locks, taken in the order it writes them. Two such
transactions writing two queues in opposite orders would deadlock (PostgreSQL then aborts one: an inbox batch
quarantined for nothing, or a scheduled job lost). The rule that prevents it: every writer of several queues takes
the one lock of the queues' writers first (the inbox applier's, which it holds for its batch anyway), so at most one
of them holds queue locks at a time; a writer of a single queue holds one lock and waits for no other.

Each test plays the applier as it is in the middle of a batch — holding the applier's lock, having written incident
Q2's queue — on a connection of its own, lets another multi-queue writer start, and only then writes Q1's queue:
the opposite order to that writer's. Both must commit.

One incident's outcome that refreshes its card (a ticket effect's) writes its own queue, then that incident's Slack
queue: it shares the lock with the others like it (two incidents' ticket outcomes never wait for each other), and
still never holds a queue while the applier does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from bot.adapters.store.postgres.inbox_applying import INBOX_LOCK
from bot.adapters.store.postgres.migrations import MIGRATIONS
from bot.adapters.store.postgres.outbox import QUEUES_LOCK, SHARE_QUEUES_LOCK, TAKE_QUEUES_LOCK, queues_lock
from bot.adapters.store.postgres.store import PostgresStore
from bot.domain.effects import AlertOperators
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import PostTimelineEntry
from bot.ports.store import EffectBookkeeping, TicketRow
from tests.pg_cluster import PostgresCluster
from tests.store.contract.builders import commit, drain, note, trigger

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


async def waiting_for_a_lock(url: str, writer: asyncio.Task[object], locktype: str = "advisory") -> None:
    """Until `writer` waits for a lock of `locktype` (or has finished without); a minute at most."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        for _ in range(3000):
            if writer.done() or await (await watcher.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = %s AND NOT granted", (locktype,))).fetchone():
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


async def test_two_incidents_ticket_outcomes_do_not_wait_for_each_other(
        store_and_url: tuple[PostgresStore, str]) -> None:
    store, url = store_and_url
    await commit(store, note("Q1", "n1", minute=1, effects=(SyncTicket("Q1"),)),
                 note("Q2", "n2", minute=2, effects=(SyncTicket("Q2"),)))
    syncs = {row.effect.incident_id: row.seq for row in await store.due_effects(now=1e12, limit=10, busy=[])}
    async with await psycopg.AsyncConnection.connect(url) as teller:
        # Q1's line held (a line being told meanwhile): Q1's ticket outcome stops at it, under way, locks and all.
        await teller.execute("SELECT 1 FROM timeline WHERE id = 'n1' FOR UPDATE")
        outcomes = [asyncio.create_task(store.effect_done(
            syncs["Q1"], bookkeeping=EffectBookkeeping(noted=["n1"], refresh_card_once_synced=("Q1", 1.0))))]
        try:
            await waiting_for_a_lock(url, outcomes[0], "transactionid")
            assert not outcomes[0].done()
            outcomes.append(asyncio.create_task(store.effect_done(
                syncs["Q2"], bookkeeping=EffectBookkeeping(noted=["n2"], refresh_card_once_synced=("Q2", 1.0)))))
            await waiting_for_a_lock(url, outcomes[1])
            # Q2's outcome finished while Q1's was under way: it never waited for Q1's lock on the queues.
            assert outcomes[1].done() and outcomes[1].result() is True
        finally:
            await teller.commit()  # Q1's line let go: every outcome finishes, whatever was asserted
            finished = await asyncio.wait_for(asyncio.gather(*outcomes), 60)
        assert finished == [True, True]
    assert await store.pending_in_queue("servicenow:Q1") == await store.pending_in_queue("servicenow:Q2") == 0


async def test_a_ticket_outcome_refreshing_its_card_during_an_inbox_batch_does_not_deadlock(
        store_and_url: tuple[PostgresStore, str]) -> None:
    store, url = store_and_url
    await store.queue_effect(SyncTicket("Q1"), now=1.0)
    await store.update_footprint("Q1", sync_pending_shown=True)  # its outcome refreshes the card: slack:Q1
    [effect] = [row for row in await store.due_effects(now=2.0, limit=10, busy=[]) if row.effect.incident_id == "Q1"]
    writing = asyncio.Event()

    async def done() -> bool:
        await writing.wait()
        # Leaves servicenow:Q1 (its head moves on), then queues the card's refresh on slack:Q1.
        return await store.effect_done(effect.seq, bookkeeping=EffectBookkeeping(
            refresh_card_once_synced=("Q1", 3.0)))
    writer: asyncio.Task[object] = asyncio.create_task(done())
    async with asyncio.timeout(60):
        applier = asyncio.create_task(applier_meanwhile(url, ("slack:Q1", "servicenow:Q1"), writing, writer))
        finished = await asyncio.gather(applier, writer, return_exceptions=True)
    assert not [f for f in finished if isinstance(f, BaseException)], finished
    assert finished[1] is True
    assert await store.pending_in_queue("slack:Q1") == 2  # the applier's post, and the card's refresh


async def test_a_ticket_outcome_and_a_channel_openings_outcome_under_way_queue_one_card_refresh(
        store_and_url: tuple[PostgresStore, str]) -> None:
    """Both refresh Q1's card, and now run side by side: the ticket's must look for a refresh waiting only once it
    holds the Slack queue, so that it sees the opening's (committed by then), not the queue as it was before."""
    store, url = store_and_url
    await commit(store, note("Q1", "n1", minute=1, effects=(SyncTicket("Q1"),)))
    await store.save_ticket(TicketRow("Q1", "sys-Q1", "INC0001", "https://sn"))
    await store.update_footprint("Q1", sync_pending_shown=True)
    await store.queue_effect(PostTimelineEntry("Q1", "n1"), now=1.0)  # the opening's stand-in on slack:Q1
    heads = {row.effect.kind: row.seq for row in await store.due_effects(now=1e12, limit=10, busy=[])}
    async with await psycopg.AsyncConnection.connect(url) as teller:
        await teller.execute("SELECT 1 FROM timeline WHERE id = 'n1' FOR UPDATE")
        # The opening's outcome: slack:Q1 left, the card's refresh queued (there is a ticket), then stopped at n1.
        outcomes = [asyncio.create_task(store.effect_done(heads["post_timeline_entry"], bookkeeping=EffectBookkeeping(
            noted=["n1"], refresh_card_if_ticket=("Q1", 1.0))))]
        try:
            await waiting_for_a_lock(url, outcomes[0], "transactionid")
            outcomes.append(asyncio.create_task(store.effect_done(
                heads["sync_ticket"], bookkeeping=EffectBookkeeping(refresh_card_once_synced=("Q1", 1.0)))))
            await waiting_for_a_lock(url, outcomes[1])  # for slack:Q1
        finally:
            await teller.commit()
            finished = await asyncio.wait_for(asyncio.gather(*outcomes), 60)
    assert finished == [True, True]
    async with await psycopg.AsyncConnection.connect(url) as look:
        cursor = await look.execute("SELECT count(*) FROM outbox WHERE state = 'pending' AND kind = 'refresh_card'")
        assert await cursor.fetchone() == (1,)


async def test_an_effect_queued_while_its_queue_is_held_by_an_outcome_that_queues_one_too_leaves_the_queue_runnable(
        store_and_url: tuple[PostgresStore, str]) -> None:
    """An outcome holding slack:Q1 (its head marked done: the trigger took the queue's lock) that then queues a card
    refresh there (a channel opening's outcome) while a single effect is queued onto slack:Q1 by a plain
    `queue_effect`: the latter's seq is drawn before its trigger waits for the queue's lock, so it is lower than the
    refresh's, committed first as the queue's head. claim_effect wants the lowest pending seq, the head flag is on
    the other row: nothing in the queue could ever be claimed again."""
    store, url = store_and_url
    await store.queue_effect(PostTimelineEntry("Q1", "e1"), now=1.0)
    [first] = await store.due_effects(now=2.0, limit=10, busy=[])
    async with await psycopg.AsyncConnection.connect(url) as outcome:
        # The outcome: its effect done (the head leaves: slack:Q1's lock taken by the trigger) ...
        await outcome.execute("UPDATE outbox SET state = 'done' WHERE seq = %s", (first.seq,))
        queued = asyncio.create_task(store.queue_effect(PostTimelineEntry("Q1", "e2"), now=3.0))
        await waiting_for_a_lock(url, queued)
        assert not queued.done()
        # ... then its card refresh queued, in the same transaction.
        await outcome.execute(
            "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
            " VALUES ('Q1', 'slack:Q1', 'refresh_card', '{\"incident_id\": \"Q1\"}', 2, 0, 0)")
        await outcome.commit()
    await asyncio.wait_for(queued, 60)
    assert await store.pending_in_queue("slack:Q1") == 2
    due = await store.due_effects(now=1e12, limit=10, busy=[])
    assert due, "slack:Q1 has no head"
    assert await store.claim_effect(due[0].seq, owner="r1", now=1e12, lease_seconds=30), \
        "slack:Q1's head cannot be claimed: the queue is stuck"


def test_migration_18_mends_a_queue_left_stuck(postgres_cluster: PostgresCluster) -> None:
    """A queue left as the test above left it before migration 18 (its lowest pending seq not the head, a later one
    flagged instead): the migration moves the head to the lowest, which can be claimed."""
    database = postgres_cluster.fresh_database()
    with psycopg.connect(postgres_cluster.url(database), autocommit=True) as conn:
        for queue in ("slack:Q1", "slack:Q1", "slack:Q2"):
            conn.execute(INSERT, (queue.split(":")[1], queue))
        conn.execute("UPDATE outbox SET head = 1 - head WHERE queue = 'slack:Q1'")  # the later one flagged
        with conn.transaction():
            conn.execute(MIGRATIONS[17].encode())
        heads = conn.execute("SELECT queue, head FROM outbox ORDER BY seq").fetchall()
    postgres_cluster.drop_database(database)
    assert heads == [("slack:Q1", 1), ("slack:Q1", 0), ("slack:Q2", 1)]
    assert str(QUEUES_LOCK) in MIGRATIONS[17]  # the lock it takes is the applier's


def test_only_one_incidents_card_refreshes_share_the_lock() -> None:
    """Follow-ups may be any queue's, and two incidents' Slack queues may be written in either order: those outcomes
    take the lock alone."""
    one = EffectBookkeeping(refresh_card_once_synced=("Q1", 1.0), refresh_card_for_ticket=("Q1", 1.0))
    assert queues_lock(one) == SHARE_QUEUES_LOCK
    assert queues_lock(EffectBookkeeping(refresh_card_if_ticket=("Q1", 1.0))) == SHARE_QUEUES_LOCK
    assert queues_lock(EffectBookkeeping(refresh_card_once_synced=("Q1", 1.0),
                                         refresh_card_for_ticket=("Q2", 1.0))) == TAKE_QUEUES_LOCK
    assert queues_lock(EffectBookkeeping(refresh_card_once_synced=("Q1", 1.0),
                                         follow_ups=[(PostTimelineEntry("Q1", "n1"), 1.0)])) == TAKE_QUEUES_LOCK


async def test_an_outcome_with_follow_ups_excludes_the_ticket_outcomes(
        store_and_url: tuple[PostgresStore, str]) -> None:
    """An outcome queueing a follow-up (any queue) holds the lock alone: a ticket outcome refreshing another incident's
    card, which would share it with another like it, waits until it commits."""
    store, url = store_and_url
    await commit(store, note("Q1", "n1", minute=1, effects=(PostTimelineEntry("Q1", "n1"),)),
                 note("Q2", "n2", minute=2, effects=(SyncTicket("Q2"),)))
    heads = {row.effect.incident_id: row.seq for row in await store.due_effects(now=1e12, limit=10, busy=[])}
    async with await psycopg.AsyncConnection.connect(url) as teller:
        await teller.execute("SELECT 1 FROM timeline WHERE id = 'n1' FOR UPDATE")
        # Q1's post: done, its follow-up (the operators' queue) queued, then stopped at n1 — locks and all.
        outcomes = [asyncio.create_task(store.effect_done(heads["Q1"], bookkeeping=EffectBookkeeping(
            noted=["n1"], follow_ups=[(AlertOperators("operators", "a note"), 1.0)])))]
        try:
            await waiting_for_a_lock(url, outcomes[0], "transactionid")
            outcomes.append(asyncio.create_task(store.effect_done(
                heads["Q2"], bookkeeping=EffectBookkeeping(refresh_card_once_synced=("Q2", 1.0)))))
            await waiting_for_a_lock(url, outcomes[1])
            assert not outcomes[1].done()  # it waits for the lock, not another queue's
        finally:
            await teller.commit()
            finished = await asyncio.wait_for(asyncio.gather(*outcomes), 60)
    assert finished == [True, True]
