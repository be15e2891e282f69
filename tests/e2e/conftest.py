"""Fixtures the end-to-end tests share (pytest finds them here; helpers to import are in sandbox_helpers.py)."""

from __future__ import annotations

import pytest

from tests.pg_cluster import PostgresCluster


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: the bot on SQLite; else a PostgreSQL database of the test's own on the session's cluster."""
    if request.param == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.url(cluster.fresh_database())
