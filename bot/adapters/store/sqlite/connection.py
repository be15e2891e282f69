"""One SQLite database on one thread: opening it (WAL, migrations), running work there, and write transactions.

sqlite3 connections belong to the thread that made them, and SQLite allows one writer at a time, so all work goes
through one dedicated thread (thread.py): the event loop never blocks on disk, transactions never interleave, and
recording a webhook goes ahead of other work. WAL mode with synchronous=FULL: a committed inbox row survives a crash
or power cut, which is what lets the webhook answer 202 only after the commit.

Bookkeeping that a replay recreates — an effect's claim and lease, a retry's due time, a piece of a Slack footprint
(the executors look before they create) — is committed in a LIGHT transaction (synchronous=NORMAL for that commit):
it survives the process crashing, and the next durable commit's fsync of the WAL carries it to disk with its own,
but it takes no fsync of its own (about 2.5 ms of waiting on this machine's disk, and kernel time). What must not be
lost — a stored delivery, an applied decision, an effect done — always commits with synchronous=FULL.

`SqlitePart` is the base of each port's SQL (inbox.py, outbox.py, …): the parts share one `SqliteConnection`, and
`SqliteStore` (store.py) is all of them over one.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.adapters.store.sqlite.migrations import migrate
from bot.adapters.store.sqlite.thread import NORMAL, StoreThread

T = TypeVar("T")


class SqliteConnection:
    """The database file, its connection and the thread every call to it runs on."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._thread = StoreThread()
        self._db: Database | None = None

    async def open(self) -> None:
        await self.run(self._open)

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        migrate(conn)
        self._db = Database(conn)

    async def close(self) -> None:
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._thread.shutdown()

    async def run(self, fn: Callable[[], T], priority: int = NORMAL) -> T:
        """Run `fn` on the store's thread (the only place the connection may be used) and wait for its result."""
        return await self._thread.run(fn, priority)

    @property
    def db(self) -> Database:
        assert self._db is not None, "store not open"
        return self._db

    @contextlib.contextmanager
    def transaction(self, *, light: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block finishes, rolled back if it raises. `light`: committed
        without an fsync of its own (see the module's docstring); otherwise durable when this returns."""
        conn = self.db.conn
        if light:
            conn.execute("PRAGMA synchronous=NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if light:  # every other commit on this connection stays durable
                conn.execute("PRAGMA synchronous=FULL")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))


class SqlitePart:
    """One port's SQL, over the connection it shares with the other parts. Helpers run on the store's thread except
    `_run`, which gets there."""

    def __init__(self, connection: SqliteConnection) -> None:
        self._connection = connection

    async def _run(self, fn: Callable[[], T], priority: int = NORMAL) -> T:
        return await self._connection.run(fn, priority)

    @property
    def db(self) -> Database:
        return self._connection.db

    def _transaction(self, *, light: bool = False) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._connection.transaction(light=light)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._connection.query(sql, params)
