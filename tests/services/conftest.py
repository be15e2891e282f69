"""Fixtures the services' tests share (pytest finds them here): the outbox dispatcher's store, a SQLite file with one
triggered incident's decision committed (its effects queued), for a test module that defines no `store` of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.store import SqliteStore
from tests.helpers import store_one_triggered_incident


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "d.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    await store_one_triggered_incident(s)
    yield s
    await s.close()
