"""The bot's start on a database that does not answer its migrations' questions: it failed never — the start waited
for ever (`pg_advisory_lock`, then each statement, had no deadline), while every call after the start had one. A
replica restarted while its primary hung stayed stuck at its start even after the standby was promoted; one started
while a frozen replica held the migration lock waited as long as the server kept that session (hours). Now the
start fails with words to act on, and the next one (its supervisor's restart) gets on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.adapters.store.postgres import connection, migrating
from bot.adapters.store.postgres.connection import migrate_database
from bot.adapters.store.postgres.migrations import MIGRATION_LOCK, MIGRATIONS
from bot.adapters.store.postgres.store import PostgresStore
from bot.app.stores import migrate_store
from bot.errors import StoreUnavailable
from tests.pg_cluster import PostgresCluster

BOUND = 120  # seconds: only turns a hang into a failure


@pytest.fixture
def migrated_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    database = postgres_cluster.fresh_database()
    yield postgres_cluster.url(database)
    postgres_cluster.drop_database(database)


async def test_a_start_while_another_session_keeps_the_migration_lock_fails_saying_whose_lock_to_end(
        migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrating, "LOCK_WAIT_SECONDS", 1.0)
    with psycopg.connect(migrated_url, autocommit=True) as frozen_replica:
        frozen_replica.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        with pytest.raises(StoreUnavailable) as refused:
            await asyncio.wait_for(PostgresStore(migrated_url).open(), BOUND)
        said = str(refused.value)
        assert said.startswith("PAVEDROAD_DATABASE_URL: the database at ") and "migration lock" in said, said
        assert "pg_terminate_backend" in said and "nothing was changed" in said, said
        # The query it gives finds the session that holds it.
        query = said[said.index("SELECT pid"):said.index(");") + 1]
        [(pid, *_)] = frozen_replica.execute(query.encode()).fetchall()
        assert pid == frozen_replica.info.backend_pid
    assert await asyncio.wait_for(migrate_database(migrated_url), BOUND) == []  # the lock let go: the next start


async def test_a_start_waits_for_a_replica_that_is_migrating(migrated_url: str) -> None:
    """Asking for the lock rather than waiting on it still waits for the replica that has it."""
    with psycopg.connect(migrated_url, autocommit=True) as migrating_replica:
        migrating_replica.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        start = asyncio.ensure_future(migrate_database(migrated_url))
        await asyncio.sleep(3 * migrating.LOCK_POLL_SECONDS)
        assert not start.done()
        migrating_replica.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        assert await asyncio.wait_for(start, BOUND) == []


async def test_a_start_whose_question_gets_no_answer_fails_as_a_database_that_did_not_answer(
        migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement held up (here by a lock another session keeps; a hung server the same, to the client) past
    ANSWER_SECONDS fails the start; the session it had is let go (its lock with it)."""
    monkeypatch.setattr(connection, "ANSWER_SECONDS", 0.5)
    with psycopg.connect(migrated_url) as other:
        other.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")  # its transaction left open
        with pytest.raises(StoreUnavailable) as refused:
            await asyncio.wait_for(migrate_database(migrated_url), BOUND)
        assert "did not answer within 0.5s" in str(refused.value), refused.value
        other.rollback()
    assert await asyncio.wait_for(migrate_database(migrated_url), BOUND) == []


async def test_a_migration_takes_as_long_as_it_takes_on_a_server_that_answers(
        migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review of session 24 (failed before its fix): each migration's script was cut off at 10 minutes, on
    `pavedroad migrate` (the deploy step) too. A migration that takes longer on a big database (an index on a big
    inbox) was rolled back, told as "cannot open the database", and run again the same, for good. Here a migration of
    2 s stands for it, and a question's deadline of 1 s for ANSWER_SECONDS."""
    monkeypatch.setattr(connection, "ANSWER_SECONDS", 1.0)
    monkeypatch.setattr(migrating, "MIGRATIONS", [*MIGRATIONS, "SELECT pg_sleep(2)"])
    migrated = await asyncio.wait_for(migrate_store(migrated_url, tmp_path / "unused.db"), BOUND)
    assert migrated.applied == (len(MIGRATIONS) + 1,)


async def test_the_query_that_finds_the_lock_holder_names_only_this_databases_session(
        postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review of session 24 (failed before its fix): the query read the server-wide pg_locks by the lock
    key's low 32 bits alone. On a server holding two of the bot's databases (production and staging), it named the
    other database's migrating session too, and the operator would end the wrong one."""
    monkeypatch.setattr(migrating, "LOCK_WAIT_SECONDS", 1.0)
    ours, theirs = postgres_cluster.fresh_database(), postgres_cluster.fresh_database()
    try:
        with psycopg.connect(postgres_cluster.url(theirs), autocommit=True) as staging_replica, \
                psycopg.connect(postgres_cluster.url(ours), autocommit=True) as frozen_replica:
            staging_replica.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            frozen_replica.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            with pytest.raises(StoreUnavailable) as refused:
                await asyncio.wait_for(migrate_database(postgres_cluster.url(ours)), BOUND)
            said = str(refused.value)
            query = said[said.index("SELECT pid"):said.index(");") + 1]
            # Run as the operator would: in psql, on either database.
            for session in (frozen_replica, staging_replica):
                pids = [row[0] for row in session.execute(query.encode()).fetchall()]
                assert pids == [frozen_replica.info.backend_pid], (pids, staging_replica.info.backend_pid)
    finally:
        postgres_cluster.drop_database(ours)
        postgres_cluster.drop_database(theirs)
