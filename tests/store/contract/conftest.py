"""The store contract: every test in this folder runs against every store implementation listed in FACTORIES.

A factory gives the test a maker of unopened stores on data of the test's own (a directory under the test's, a
fresh PostgreSQL database); two stores made by the same maker share their data (a restart, or two replicas).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.ports.store import Store
from tests.pg_cluster import PostgresCluster

StoreMaker = Callable[[], Store]
StoreFactory = Callable[[pytest.FixtureRequest, Path], Iterator[StoreMaker]]


def sqlite(request: pytest.FixtureRequest, workdir: Path) -> Iterator[StoreMaker]:
    yield lambda: SqliteStore(workdir / "store.db")


def postgres(request: pytest.FixtureRequest, workdir: Path) -> Iterator[StoreMaker]:
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.fresh_database()
    yield lambda: PostgresStore(cluster.url(database))
    cluster.drop_database(database)


FACTORIES: list[StoreFactory] = [sqlite, postgres]


@pytest.fixture(params=FACTORIES, ids=lambda factory: factory.__name__)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """Make an unopened store on this test's data (call it again for the same data after a restart)."""
    factory: StoreFactory = request.param
    yield from factory(request, tmp_path)


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    opened = make_store()
    await opened.open()
    yield opened
    await opened.close()
