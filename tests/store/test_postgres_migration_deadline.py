"""The bot's start on a database that does not answer its migrations' questions: it failed never — the start waited
for ever (`pg_advisory_lock`, then each statement, had no deadline), while every call after the start had one. A
replica restarted while its primary hung stayed stuck at its start even after the standby was promoted; one started
while a frozen replica held the migration lock waited as long as the server kept that session (hours). Now the
start fails with words to act on, and the next one (its supervisor's restart) gets on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from bot.adapters.store.postgres import connection, migrating
from bot.adapters.store.postgres.connection import migrate_database
from bot.adapters.store.postgres.migrations import MIGRATION_LOCK, MIGRATIONS
from bot.adapters.store.postgres.store import PostgresStore
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


async def test_a_migration_may_take_longer_than_a_question(migrated_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration's script is held to LONG_ANSWER_SECONDS, not ANSWER_SECONDS: a big table's new index is no hang.
    (The last migration taken back, and its table locked meanwhile by another session, as a long build would.)"""
    monkeypatch.setattr(connection, "ANSWER_SECONDS", 0.5)
    last = len(MIGRATIONS)
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("DROP INDEX inbox_pending_incident")
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (last,))
    with psycopg.connect(migrated_url) as other:
        other.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        start = asyncio.ensure_future(migrate_database(migrated_url))
        await asyncio.sleep(3 * connection.ANSWER_SECONDS)
        assert not start.done(), start  # still waiting on its script, past a question's deadline
        other.rollback()
        assert await asyncio.wait_for(start, BOUND) == [last]
