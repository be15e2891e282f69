"""Deliveries stored together while PostgreSQL is down: every caller of the batch is told at once (and answers 503,
so that its sender retries), rather than the batch being stored again a row at a time — which, with the database
unreachable, made each row wait the pool's time again in turn, holding a webhook for seconds per row. And while it
hangs (its connections open, nothing answered on them): told after the store's time for an answer, not never."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bot.adapters.store.postgres import connection
from bot.adapters.store.postgres.store import PostgresStore
from tests.pg_cluster import PostgresCluster

POOL_WAIT = 0.3  # the pool's wait for a connection, shortened for the test (the bot's is connection.TIMEOUT)


async def test_a_batch_refused_because_the_database_is_down_fails_all_its_callers_at_once(
        own_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(connection, "TIMEOUT", POOL_WAIT)
    store = PostgresStore(own_cluster.url(own_cluster.fresh_database()))
    await store.open()
    try:
        await asyncio.to_thread(own_cluster.stop)
        outcomes = await asyncio.gather(*(store.record_delivery(
            source="pagerduty", delivery_id=f"D{n}", event_id=f"E{n}", event_type="incident.triggered",
            incident_id=f"Q{n}", occurred_at="2026-11-27T10:00:00.000Z", body="{}") for n in range(8)),
            return_exceptions=True)
        assert all(isinstance(outcome, psycopg.OperationalError) for outcome in outcomes), outcomes
        assert "one by one" not in caplog.text
        await asyncio.to_thread(own_cluster.start)
        # Nothing was stored: the senders' retries are stored as new.
        assert await store.record_delivery(
            source="pagerduty", delivery_id="D0", event_id="E0", event_type="incident.triggered", incident_id="Q0",
            occurred_at="2026-11-27T10:00:00.000Z", body="{}")
    finally:
        await store.close()


async def test_a_batch_on_a_database_that_hangs_fails_all_its_callers_once_the_answer_is_overdue(
        own_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The database's processes stopped with the store's connections open: every caller of the batch hears that the
    database did not answer (the error the store's callers take for the database's state: 503, retried), and once
    it answers again, the same store stores what is sent again."""
    monkeypatch.setattr(connection, "ANSWER_SECONDS", 0.5)
    store = PostgresStore(own_cluster.url(own_cluster.fresh_database()))
    await store.open()
    try:
        await asyncio.to_thread(own_cluster.pause)
        try:
            outcomes = await asyncio.wait_for(asyncio.gather(*(store.record_delivery(
                source="pagerduty", delivery_id=f"D{n}", event_id=f"E{n}", event_type="incident.triggered",
                incident_id=f"Q{n}", occurred_at="2026-11-27T10:00:00.000Z", body="{}") for n in range(8)),
                return_exceptions=True), 120)  # (the bound only turns a hang into a failure)
        finally:
            await asyncio.to_thread(own_cluster.resume)
        assert all(isinstance(outcome, psycopg.OperationalError) and "did not answer within 0.5s" in str(outcome)
                   for outcome in outcomes), outcomes
        assert all(connection.PostgresConnection.unreachable(outcome) for outcome in outcomes
                   if isinstance(outcome, BaseException))
        assert "one by one" not in caplog.text
        assert await store.record_delivery(
            source="pagerduty", delivery_id="D0", event_id="E0", event_type="incident.triggered", incident_id="Q0",
            occurred_at="2026-11-27T10:00:00.000Z", body="{}")
    finally:
        await store.close()
