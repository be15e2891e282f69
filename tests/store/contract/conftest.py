"""The store contract: every test in this folder runs against every store implementation listed in FACTORIES.

A factory makes an unopened store whose data lives under the test's own directory; two stores made by the same
test's factory share their data (a restart). A second implementation (PostgreSQL) joins by appending its factory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.store import SqliteStore
from bot.ports.store import Store

StoreFactory = Callable[[Path], Store]


def sqlite(workdir: Path) -> Store:
    return SqliteStore(workdir / "store.db")


FACTORIES: list[StoreFactory] = [sqlite]


@pytest.fixture(params=FACTORIES, ids=lambda factory: factory.__name__)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Make an unopened store on this test's data (call it again for the same data after a restart)."""
    factory: StoreFactory = request.param
    return lambda: factory(tmp_path)


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    opened = make_store()
    await opened.open()
    yield opened
    await opened.close()
