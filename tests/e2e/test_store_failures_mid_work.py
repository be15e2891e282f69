"""The store failing in the middle of work (found in session 26's review of replicas, failover and the operators'
CLI), on real stores (SQLite, and PostgreSQL from throwaway clusters): the inbox commands never migrate a database
that is not the bot's; a database restart under a slow effect neither fails it nor ends its lease renewals; an
archiving run the store fails half-way leaves the channel to the next run."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from datetime import timedelta

import psycopg
import pytest

from bot.adapters.store.postgres import connection
from bot.adapters.store.postgres.store import PostgresStore
from bot.app.cli.database import on_postgres
from bot.app.cli.main import main
from bot.domain.effects.slack import RefreshCard
from bot.errors import StoreUnavailable
from bot.ports.store import Store
from bot.services.leasing import Leases
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, settle, state, trigger
from tests.pg_cluster import PostgresCluster

A = "replica-a"


def _tables(cluster: PostgresCluster, database: str) -> list[str]:
    with psycopg.connect(cluster.url(database), autocommit=True) as conn:
        return [str(r[0]) for r in conn.execute(b"SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


@pytest.mark.parametrize("command", [["inbox", "failed"], ["inbox", "retry", "ab12cd34"]])
def test_inbox_commands_refuse_an_empty_postgresql_database_and_leave_it_empty(
        postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        command: list[str]) -> None:
    """An operator mid-outage with PAVEDROAD_DATABASE_URL naming the wrong database (an empty one: `postgres`, a
    typo'd name that was created empty) runs `pavedroad inbox failed`. On SQLite such a `--db` exits 2 and is left as
    it was; on PostgreSQL the command migrated the empty database — 22 migrations of the bot's tables written into
    it — and answered "No quarantined deliveries.", exit 0: the operator is told nothing was set aside, while the
    bot's real database may hold quarantined deliveries."""
    database = postgres_cluster.fresh_database(migrated=False)
    monkeypatch.setenv("PAVEDROAD_DATABASE_URL", postgres_cluster.url(database))
    monkeypatch.delenv("PAVEDROAD_DB", raising=False)
    assert main(command) == 2
    said = capsys.readouterr()
    assert "No quarantined deliveries" not in said.out
    assert "not the bot's database" in said.err and "nothing was changed" in said.err
    assert _tables(postgres_cluster, database) == []
    postgres_cluster.drop_database(database)


async def test_a_database_restart_while_a_slow_effect_renews_its_lease_neither_fails_it_nor_ends_the_renewals(
        own_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow effect (a ServiceNow call of 10 s, a handover post) renews its lease every third of it. PostgreSQL
    restarts (a failover) while it runs: one renewal fails. The renewing task then died with the database's error,
    so (1) no renewal was ever made again — past the lease another replica takes the effect over while this one is
    still performing it: done twice — and (2) `held_while` re-raised that error once the call ended, so an effect
    whose call succeeded was counted a failed attempt ("failed unexpectedly"; dead, with an operators' alert, on its
    last attempt)."""
    monkeypatch.setattr(connection, "TIMEOUT", 0.5)
    lease = 9.0
    store = PostgresStore(own_cluster.url(own_cluster.fresh_database()))
    await store.open()
    try:
        await store.queue_effect(RefreshCard("Q1"), now=time.time())
        [row] = await store.due_effects(now=time.time(), limit=10, busy=[])
        assert await store.claim_effect(row.seq, owner=A, now=time.time(), lease_seconds=lease)

        async def slow_call() -> None:
            await asyncio.to_thread(own_cluster.stop)  # the database restarts under the call
            await asyncio.sleep(lease / 3 + 1)  # a renewal falls in the outage
            await asyncio.to_thread(own_cluster.start)
            await asyncio.sleep(lease)  # the call goes on past its first lease: only renewals keep it

        await Leases(store, A, lease, time.time).held_while(row, slow_call())
        # Still this replica's: no other replica is offered it, and its outcome counts.
        assert await store.due_effects(now=time.time(), limit=10, busy=[]) == []
        assert await store.effect_done(row.seq, owner=A)
    finally:
        await store.close()


async def test_an_archiving_run_the_store_fails_midway_leaves_the_channel_to_the_next_run(
        sandbox: RunningSandbox) -> None:
    """The archiving job claims an incident's archiving (a key kept for a year) and then queues its effect, in two
    transactions. When the second fails — the database failing over between them, a write refused, the job cut short
    by a stop — the claim stays and nothing is queued: every later run finds it claimed, and the resolved incident's
    channel is never archived, though the scheduler promises that "what it had not is done by its next run"."""
    incident = await trigger(sandbox, title="Checkout returns 500s")
    await act(sandbox, incident["id"], "resolve")
    await settle(sandbox)
    db = sandbox.bot.settings.db_path
    with contextlib.closing(sqlite3.connect(db)) as conn:  # the store refuses the effect's write, once
        conn.execute("CREATE TRIGGER refused BEFORE INSERT ON outbox WHEN NEW.kind = 'archive_channel'"
                     " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        conn.commit()
    clock = sandbox.sandbox.clock
    clock.advance(timedelta(days=8))  # past channels.archive_after (7 days)
    with pytest.raises(sqlite3.Error):
        await sandbox.bot.archive_resolved_channels()
    with contextlib.closing(sqlite3.connect(db)) as conn:  # the fault passes
        conn.execute("DROP TRIGGER refused")
        conn.commit()
    clock.advance(timedelta(minutes=10))  # the job's next run
    assert await sandbox.bot.archive_resolved_channels() == 1
    await settle(sandbox)
    [channel] = [c for c in state(sandbox)["slack"]["channels"] if c["name"].startswith("inc-")]
    assert channel["is_archived"]


async def test_a_database_lost_under_a_command_is_said_in_one_line(own_cluster: PostgresCluster) -> None:
    """The database restarting (a failover) after `pavedroad inbox failed` opened it: a psycopg traceback, exit 1,
    for an operator to decode mid-outage. It is StoreUnavailable, which the commands say in one line (exit 2),
    naming PAVEDROAD_DATABASE_URL and without the password."""
    database = own_cluster.fresh_database()
    url = own_cluster.url(database)

    async def lost(store: Store) -> object:
        own_cluster.stop()
        return await store.failed_deliveries()

    with pytest.raises(StoreUnavailable) as raised:
        await on_postgres(url, lost)
    assert "PAVEDROAD_DATABASE_URL" in str(raised.value)
