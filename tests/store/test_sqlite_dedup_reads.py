"""The SQLite store's `still_seen` (the Deduplication port) is a read, and goes through the reader as every other
read does: after a light write (an effect's claim), asking whether keys are still seen must not switch the connection
back to synchronous=FULL — that switch is a write's, a PRAGMA on the one store thread that every other job waits
behind (found in review: it read through `db`, the writers' path). Read from the statements SQLite ran."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.connection import SqliteConnection
from bot.adapters.store.sqlite.dedup import SqliteDeduplication
from bot.adapters.store.sqlite.outbox import SqliteOutbox
from bot.domain.effects.slack import RefreshCard

FULL, NORMAL = "PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL"


class Parts(SqliteDeduplication, SqliteOutbox):
    """The store's deduplication, and the outbox whose claims are light writes."""


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[Parts, list[str]]]:
    connection = SqliteConnection(tmp_path / "store.db")
    await connection.open()
    statements: list[str] = []
    await connection.run(lambda: connection.reader.set_trace_callback(statements.append))
    try:
        yield Parts(connection), statements
    finally:
        await connection.close()


async def test_still_seen_reads_without_taking_the_writers_path(traced: tuple[Parts, list[str]]) -> None:
    store, statements = traced
    assert await store.first_time("ticket-no-group-told:T1", 60.0, 1.0)
    await store.queue_effect(RefreshCard("I1"), 1.0)
    await store.claim_due_effects(2.0, {"slack": 1}, [], owner="a", lease_seconds=30)  # a light write: NORMAL
    statements.clear()
    assert await store.still_seen(["ticket-no-group-told:T1", "ticket-no-group-told:T2"], 3.0) == {
        "ticket-no-group-told:T1"}
    assert FULL not in statements, statements
    assert any(statement.startswith("SELECT key FROM seen_once") for statement in statements)
