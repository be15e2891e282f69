"""The PostgreSQL store's pool checks a connection only once it has rested (bot/adapters/store/postgres/connection.py):
one the database dropped while it rested is replaced, and the call that takes it succeeds; one given back a moment
ago is taken without the round trip of a check, and if the database dropped it, that call fails and every other
connection is checked before it is used."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from bot.adapters.store.postgres import connection
from bot.adapters.store.postgres.store import PostgresStore
from tests.pg_cluster import PostgresCluster

REST = 0.2  # the rest before a check, shortened for the test (the bot's is CHECK_AFTER_REST)


def drop_connections(cluster: PostgresCluster, database: str) -> None:
    """What a database restart or a failover does to the pool: every connection to the database is closed."""
    cluster.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")


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
        postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHECK_AFTER_REST", REST)
    database = postgres_cluster.fresh_database()
    store = PostgresStore(postgres_cluster.url(database))
    await store.open()
    try:
        assert await store.incident("Q1") is None
        drop_connections(postgres_cluster, database)
        await asyncio.sleep(REST * 2)  # rested: checked as it is taken, found dropped, replaced
        assert await store.incident("Q1") is None
        assert (await store.depths())["inbox_pending"] == 0
    finally:
        await store.close()
        postgres_cluster.drop_database(database)


async def test_a_connection_given_back_a_moment_ago_is_taken_without_a_check(
        postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHECK_AFTER_REST", 3600.0)
    counted = checks_counted(monkeypatch)
    database = postgres_cluster.fresh_database()
    store = PostgresStore(postgres_cluster.url(database))
    await store.open()
    try:
        for _ in range(50):
            assert await store.incident("Q1") is None
        # Each of the pool's connections is checked the first time it is taken (none was given back yet), never after.
        assert 1 <= counted[0] <= connection.POOL_MAX
        first = counted[0]
        for _ in range(50):
            assert await store.incident("Q1") is None
        assert counted[0] == first
    finally:
        await store.close()
        postgres_cluster.drop_database(database)


async def test_connections_dropped_a_moment_after_they_were_given_back_fail_one_call_at_most(
        postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "CHECK_AFTER_REST", 3600.0)
    database = postgres_cluster.fresh_database()
    store = PostgresStore(postgres_cluster.url(database))
    await store.open()
    try:
        await asyncio.gather(*(store.incident("Q1") for _ in range(8)))  # several connections given back just now
        drop_connections(postgres_cluster, database)
        with contextlib.suppress(psycopg.OperationalError):
            await store.incident("Q1")  # takes one of them unchecked, and fails
        for _ in range(8):  # the others are checked before they are used, and replaced
            assert await store.incident("Q1") is None
    finally:
        await store.close()
        postgres_cluster.drop_database(database)
