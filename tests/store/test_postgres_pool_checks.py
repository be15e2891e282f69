"""The PostgreSQL store's pool checks a connection only once it has rested (bot/adapters/store/postgres/connection.py):
one the database dropped while it rested is replaced, and the call that takes it succeeds; one given back a moment
ago is taken without the round trip of a check, and if the database dropped it, that call fails and every other
connection is checked before it is used — as they are once a check finds one dropped, including one whose call was
under way then and ended without noticing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from bot.adapters.store.postgres import connection
from bot.adapters.store.postgres.store import PostgresStore
from tests.pg_cluster import PostgresCluster

REST = 0.2  # the rest before a check, shortened for the test (the bot's is CHECK_AFTER_REST)


class Opened:
    """A store open on a database of its own, and what a database restart or a failover does to its pool."""

    def __init__(self, cluster: PostgresCluster) -> None:
        self.cluster, self.database = cluster, cluster.fresh_database()
        self.store = PostgresStore(cluster.url(self.database))

    def drop_connections(self) -> None:
        """Every connection to the database closed by the server."""
        self.cluster.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.database}'")


@pytest.fixture
async def opened(postgres_cluster: PostgresCluster) -> AsyncIterator[Opened]:
    made = Opened(postgres_cluster)
    await made.store.open()
    yield made
    await made.store.close()
    postgres_cluster.drop_database(made.database)


def checks_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the checks the pool runs (the round trip of psycopg_pool's own check)."""
    counted = [0]
    original = AsyncConnectionPool.check_connection

    async def counting(conn: connection.Connection) -> None:
        counted[0] += 1
        await original(conn)
    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counting))
    return counted


async def test_a_connection_dropped_while_it_rested_is_replaced_and_the_call_succeeds(
        opened: Opened, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHECK_AFTER_REST", REST)
    assert await opened.store.incident("Q1") is None
    opened.drop_connections()
    await asyncio.sleep(REST * 2)  # rested: checked as it is taken, found dropped, replaced
    assert await opened.store.incident("Q1") is None
    assert (await opened.store.depths())["inbox_pending"] == 0


async def test_a_connection_given_back_a_moment_ago_is_taken_without_a_check(
        opened: Opened, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHECK_AFTER_REST", 3600.0)
    counted = checks_counted(monkeypatch)
    for _ in range(50):
        assert await opened.store.incident("Q1") is None
    # Each of the pool's connections is checked at most once (at its first take since it opened), never after.
    assert counted[0] <= connection.POOL_MAX
    first = counted[0]
    for _ in range(50):
        assert await opened.store.incident("Q1") is None
    assert counted[0] == first


async def test_a_connection_taken_before_others_were_found_dropped_is_checked_at_its_next_take(
        opened: Opened, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHECK_AFTER_REST", 3600.0)
    pool = connection.PostgresConnection(opened.cluster.url(opened.database), min_size=2, max_size=2)
    await pool.open()
    try:
        async with pool.connection() as held:
            await held.execute(b"SELECT 1")
            opened.drop_connections()  # while it is held: its call ends without noticing
            async with pool.connection() as other:  # its check finds the other connection dropped: all distrusted
                await other.execute(b"SELECT 1")
        for _ in range(4):  # the one held through the drop is checked when next taken, and replaced
            async with pool.connection() as conn:
                await conn.execute(b"SELECT 1")
    finally:
        await pool.close()
