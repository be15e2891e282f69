"""A deadline on every PostgreSQL call (connection.py), met where psycopg does not meet it. Its cancellation is a
bounded failure when it lands in one of psycopg's waits (psycopg cancels the query and, unanswered, closes the
connection). But the applier yields to the event loop between rows of a batch (`await asyncio.sleep(0)` every
TURN_SECONDS, inbox_applying.py `_apply_batch`): a deadline that comes due there (the loop busy with other work, as
under a burst) raises in the applier's own code, and psycopg's transaction then sends its ROLLBACK TO SAVEPOINT to the
hung server and waits for the answer with no deadline left — the worker stalled for as long as the database hung (found
in review of session 23's deadline; failed before CLEANUP_SECONDS). The call must fail, and soon."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from bot.adapters.store.postgres import connection
from bot.adapters.store.postgres.store import PostgresStore
from bot.domain.incident import Decision, Incident
from bot.ports.store import InboxRow, Skip
from tests.pg_cluster import PostgresCluster

ANSWER = 0.5  # the store's time for an answer, shortened for the test (the bot's is ANSWER_SECONDS)


async def test_a_database_that_hangs_while_the_applier_yields_between_rows_fails_the_batch_in_bounded_time(
        own_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "ANSWER_SECONDS", ANSWER)
    store = PostgresStore(own_cluster.url(own_cluster.fresh_database()))
    await store.open()
    paused = False

    def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        nonlocal paused
        if not paused:
            # The database hangs as the batch is being decided, and the event loop is busy past the store's time
            # for an answer (other work's turn: here this row's, for the test's sake).
            own_cluster.pause()
            paused = True
            time.sleep(ANSWER * 1.5)
        return Decision(None, None, ())

    try:
        for n in range(3):
            await store.record_delivery(source="pagerduty", delivery_id=f"D{n}", event_id=f"E{n}",
                                        event_type="incident.triggered", incident_id=f"Q{n}",
                                        occurred_at="2026-11-27T10:00:00.000Z", body="{}")
        started = time.monotonic()
        try:
            # psycopg's own give-up (a cancel, then the close of a connection that does not confirm it) takes some
            # 10 s on top of the store's time; 30 s is well past any bounded failure.
            outcome: BaseException | list[Decision] = await asyncio.wait_for(store.apply_pending(decide, 0.0), 30)
        except (psycopg.OperationalError, TimeoutError) as error:
            outcome = error
        finally:
            if paused:
                await asyncio.to_thread(own_cluster.resume)
        waited = time.monotonic() - started
        assert isinstance(outcome, psycopg.OperationalError), (
            f"apply_pending on a hung database: {outcome!r} after {waited:.1f}s (the deadline expired at "
            f"{ANSWER}s; a bounded failure is an OperationalError)")
    finally:
        await store.close()
