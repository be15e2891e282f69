"""What only the PostgreSQL store does (its contract is tests/store/contract/): numbered migrations that replicas
may run at once, deliveries applied exactly once and in order when two stores (two replicas) apply concurrently on
one database, and a database that cannot be opened named without its password."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from bot.adapters.store.postgres.connection import migrate_database, redact
from bot.adapters.store.postgres.migrations import MIGRATIONS
from bot.adapters.store.postgres.store import PostgresStore
from bot.app.cli.database import prepare_store
from bot.domain.incident import Decision, Incident
from bot.domain.timeline import TimelineEntry
from bot.errors import StoreUnavailable
from bot.ports.store import InboxRow, NewDelivery
from tests.pg_cluster import PASSWORD, PASSWORD_USER, PostgresCluster, free_port
from tests.store.contract.builders import at, deliver


def versions(cluster: PostgresCluster, database: str) -> list[int]:
    with psycopg.connect(cluster.url(database)) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


async def test_replicas_migrating_at_once_apply_each_migration_once(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database(migrated=False)
    url = postgres_cluster.url(database)
    runs = await asyncio.gather(*(migrate_database(url) for _ in range(4)))
    assert sorted(runs, key=len) == [[], [], [], list(range(1, len(MIGRATIONS) + 1))]
    assert versions(postgres_cluster, database) == list(range(1, len(MIGRATIONS) + 1))
    assert await migrate_database(url) == []  # and again: nothing left to do
    postgres_cluster.drop_database(database)


async def test_two_stores_applying_at_once_apply_each_delivery_once_and_in_order_per_incident(
        postgres_cluster: PostgresCluster) -> None:
    """Two replicas' workers drain one inbox at the same time, in small batches: every delivery is decided exactly
    once (and committed once: one timeline line each), and each incident's deliveries in the order they arrived."""
    database = postgres_cluster.fresh_database()
    replicas = [PostgresStore(postgres_cluster.url(database)) for _ in range(2)]
    for replica in replicas:
        await replica.open()
    try:
        incidents = [f"Q{n}" for n in range(6)]
        # Deliveries arrive at both replicas, interleaved across incidents.
        for n in range(120):
            await deliver(replicas[n % 2], f"d{n}", incident_id=incidents[n % len(incidents)], body=str(n))
        decided: list[tuple[int, str | None]] = []

        def decide(row: InboxRow, incident: Incident | None) -> Decision:
            decided.append((row.seq, row.incident_id))
            assert row.incident_id is not None
            at = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(seconds=int(row.body))
            return Decision(None, TimelineEntry(f"line-{row.body}", row.incident_id, at, "annotated", "Dev",
                                                row.body), ())

        async def worker(store: PostgresStore) -> None:
            applied = True
            while applied:  # each batch awaits the database, so the workers interleave
                applied = bool(await store.apply_pending(decide, now=1.0, limit=3))

        await asyncio.gather(*(worker(replica) for replica in replicas for _ in range(2)))
        seqs = [seq for seq, _ in decided]
        assert len(seqs) == 120 and len(set(seqs)) == 120
        per_incident: dict[str | None, list[int]] = defaultdict(list)
        for seq, incident_id in decided:
            per_incident[incident_id].append(seq)
        assert all(order == sorted(order) for order in per_incident.values())
        assert (await replicas[0].depths())["inbox_pending"] == 0
        lines = [len(await replicas[1].timeline(incident_id)) for incident_id in incidents]
        assert lines == [20] * 6
    finally:
        for replica in replicas:
            await replica.close()
        postgres_cluster.drop_database(database)


async def test_a_key_claimed_by_two_replicas_at_once_is_first_for_one(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database()
    replicas = [PostgresStore(postgres_cluster.url(database)) for _ in range(2)]
    for replica in replicas:
        await replica.open()
    try:
        for n in range(20):
            claims = await asyncio.gather(*(r.first_time(f"click-{n}", 60, 1.0) for r in replicas for _ in range(3)))
            assert claims.count(True) == 1
    finally:
        for replica in replicas:
            await replica.close()
        postgres_cluster.drop_database(database)


async def test_a_database_that_cannot_be_reached_is_named_without_its_password(
        caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql://pavedroad:{PASSWORD}@127.0.0.1:{free_port()}/pavedroad"
    store = PostgresStore(url)
    with pytest.raises(StoreUnavailable) as raised:
        await store.open()
    message = str(raised.value)
    assert "PAVEDROAD_DATABASE_URL" in message and "\n" not in message
    assert "Connection refused" in message and "postgresql://pavedroad:***@127.0.0.1" in message
    assert PASSWORD not in message and PASSWORD not in caplog.text


async def test_a_wrong_password_is_refused_without_showing_either_password(postgres_cluster: PostgresCluster,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-passw0rd-given"
    with pytest.raises(StoreUnavailable) as raised:
        await migrate_database(postgres_cluster.url("postgres", user=PASSWORD_USER, password=wrong))
    message = str(raised.value)
    assert "password authentication failed" in message and "PAVEDROAD_DATABASE_URL" in message
    assert wrong not in message and PASSWORD not in message and wrong not in caplog.text


def test_serve_names_the_store_it_migrated_without_the_password(postgres_cluster: PostgresCluster,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    database = postgres_cluster.fresh_database(migrated=False)
    url = postgres_cluster.url(database, user=PASSWORD_USER, password=PASSWORD)
    assert prepare_store(url, Path("unused.db"))
    assert f"store: PostgreSQL at postgresql://{PASSWORD_USER}:***@127.0.0.1:{postgres_cluster.port}/{database}" \
        f" (applied migration(s) 1, 2, 3" in caplog.text
    assert PASSWORD not in caplog.text
    assert versions(postgres_cluster, database)[-1] == len(MIGRATIONS)
    postgres_cluster.drop_database(database)


def test_redact_keeps_everything_but_the_password() -> None:
    assert redact("postgresql://u:p%40ss@db:5432/pr?sslmode=require") == "postgresql://u:***@db:5432/pr?sslmode=require"
    assert redact("postgresql://u@db/pr") == "postgresql://u@db/pr"


async def test_text_postgresql_cannot_hold_is_quarantined_alone_and_a_lost_connection_quarantines_nothing(
        postgres_cluster: PostgresCluster) -> None:
    """PostgreSQL refuses a NUL in text (SQLite keeps it): a decision carrying one is the row's fault, set aside
    alone. The database going away mid-batch is not: the batch fails whole and every row stays pending."""
    database = postgres_cluster.fresh_database()
    store = PostgresStore(postgres_cluster.url(database))
    await store.open()
    try:
        for delivery in ("d1", "d2"):
            await deliver(store, delivery, incident_id=delivery, body=delivery)
        at = datetime(2026, 11, 27, tzinfo=UTC)

        def decide(row: InboxRow, incident: Incident | None) -> Decision:
            assert row.incident_id is not None
            text = "nul \x00 inside" if row.body == "d1" else "fine"
            return Decision(None, TimelineEntry(f"line-{row.body}", row.incident_id, at, "annotated", "Dev", text), ())

        assert [d.entry.text for d in await store.apply_pending(decide, now=1.0) if d.entry] == ["fine"]
        [failed] = await store.failed_deliveries()
        assert failed.incident_id == "d1" and "NUL" in failed.reason

        await deliver(store, "d3", incident_id="d3", body="d3")

        def cut_off(row: InboxRow, incident: Incident | None) -> Decision:
            postgres_cluster.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
                                 " AND pid <> pg_backend_pid()")
            return decide(row, incident)

        with pytest.raises(psycopg.OperationalError):
            await store.apply_pending(cut_off, now=2.0)
        depths = await store.depths()  # the pool has replaced the connection the database dropped
        assert (depths["inbox_pending"], depths["inbox_failed"]) == (1, 1)
    finally:
        await store.close()
        postgres_cluster.drop_database(database)


async def test_deliveries_recorded_together_are_stored_in_one_transaction(postgres_cluster: PostgresCluster) -> None:
    # A run of the reminder job: one commit for its reminders, not one each (each row's xmin is the transaction that
    # wrote it).
    database = postgres_cluster.fresh_database()
    store = PostgresStore(postgres_cluster.url(database))
    await store.open()
    try:
        reminders = [NewDelivery("slack", f"r{i}", f"r{i}", "reminder_due", f"Q{i}", at(0), "{}") for i in range(300)]
        assert await store.record_deliveries(reminders) == [True] * 300
    finally:
        await store.close()
    with psycopg.connect(postgres_cluster.url(database)) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT xmin::text) FROM inbox").fetchone() == (300, 1)
    postgres_cluster.drop_database(database)
