"""What only the SQLite store does (its contract is tests/store/contract/): numbered migrations and WAL, and a
group commit whose failure answers every delivery in the batch."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.adapters.store.sqlite.connection import SqliteConnection
from bot.adapters.store.sqlite.inbox import SqliteInbox
from bot.adapters.store.sqlite.migrations import MIGRATIONS
from bot.adapters.store.sqlite.store import SqliteStore
from tests.store.contract.builders import deliver


async def test_migrations_are_numbered_and_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        s = SqliteStore(tmp_path / "m.db")
        await s.open()
        await s.close()
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_a_failed_group_commit_answers_every_caller(tmp_path: Path) -> None:
    connection = SqliteConnection(tmp_path / "s.db")
    inbox = SqliteInbox(connection)  # the inbox's part alone, over a connection of its own
    await connection.open()
    try:
        # Another process holds the write lock (a backup, the sqlite3 shell): the batch cannot begin.
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        await connection.run(lambda: connection.db.execute("PRAGMA busy_timeout=50"))
        results = await asyncio.wait_for(asyncio.gather(*(deliver(inbox, f"d{i}") for i in range(3)),
                                                        return_exceptions=True), timeout=10)
        assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
        other.execute("ROLLBACK")
        other.close()
        assert await deliver(inbox, "d9") is True
        assert await connection.run(lambda: connection.query("SELECT delivery_id FROM inbox")) == [
            {"delivery_id": "d9"}]
    finally:
        await connection.close()
