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
The setting is switched only when it changes (a PRAGMA each way costs as much CPU as a light write itself): light
transactions in a row leave it at NORMAL, and it is put back to FULL before any other use of the connection for
writing — a durable transaction, and any code that takes the connection from `db` (raw BEGINs, autocommit writes).
Only light transactions and reads (`query`, `reader`) use the connection without putting FULL back.

Small durable writes that arrive together share a commit (`group_commit`): while the thread is busy (an fsync takes
milliseconds), the effects finished meanwhile are marked done in one transaction and one fsync, each in a SAVEPOINT of
its own so that one failing fails alone. Nobody hears "done" before their write is on disk.

`SqlitePart` is the base of each port's SQL (inbox.py, outbox.py, …): the parts share one `SqliteConnection`, and
`SqliteStore` (store.py) is all of them over one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.adapters.store.sqlite import thread
from bot.adapters.store.sqlite.known_incidents import KnownIncidents
from bot.adapters.store.sqlite.migrations import migrate
from bot.adapters.store.sqlite.thread import NORMAL, StoreThread
from bot.adapters.store.unreadable import UnreadableEffects

T = TypeVar("T")
log = logging.getLogger(__name__)
# Prepared statements sqlite3 keeps, by their text (its default: 128). Some statements' text varies with a count (the
# due heads with the lanes and the busy queues, a claim with its effects, a footprint with its pieces), and preparing
# one again costs as much CPU as a dozen runs of it: room for every variant the dispatcher makes (session 12).
STATEMENTS_CACHED = 1024


class SqliteConnection:
    """The database file, its connection and the thread every call to it runs on."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._thread = StoreThread()
        self._db: Database | None = None
        self._light = False  # whether the connection is at synchronous=NORMAL (left so by a light transaction)
        # Incidents decoded or written lately, for the parts' reads (used on the store's thread only).
        self.known_incidents = KnownIncidents()
        # Effects this version found it cannot read: left out of its claims from then on (used on the store's thread).
        self.unreadable_effects = UnreadableEffects()
        self._grouped: deque[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any],
                                   asyncio.AbstractEventLoop]] = deque()
        # Whether a flush of `_grouped` is queued and has not yet taken them: the writes appended meanwhile ride on
        # it (one trip to the store's thread for them all). Set on the loop before the flush is queued, cleared by
        # the flush before it takes the writes, so a write is never left without a flush to take it.
        self._flush_queued = False

    async def open(self) -> None:
        await self.run(self._open, long=True)  # the migrations may rewrite every row

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True,
                               cached_statements=STATEMENTS_CACHED)
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

    def run(self, fn: Callable[[], T], priority: int = NORMAL, *, long: bool = False) -> asyncio.Future[T]:
        """Run `fn` on the store's thread (the only place the connection may be used): await its result. `long`: it
        may take long (a report, a batch): no answer already computed is held while it runs (thread.py)."""
        return self._thread.run(fn, priority, long=long)

    @property
    def db(self) -> Database:
        """The database, its connection at synchronous=FULL: whatever is written through it commits durably."""
        assert self._db is not None, "store not open"
        if self._light:
            self._synchronous(light=False)
        return self._db

    @property
    def reader(self) -> sqlite3.Connection:
        """The connection for reads only (BEGIN…COMMIT of a read snapshot included): it may be at synchronous=NORMAL,
        so nothing may be written through it."""
        assert self._db is not None, "store not open"
        return self._db.conn

    def _synchronous(self, *, light: bool) -> None:
        assert self._db is not None, "store not open"
        self._db.conn.execute("PRAGMA synchronous=NORMAL" if light else "PRAGMA synchronous=FULL")
        self._light = light

    @contextlib.contextmanager
    def transaction(self, *, light: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block finishes, rolled back if it raises. `light`: committed
        without an fsync of its own (see the module's docstring); otherwise durable when this returns."""
        if light != self._light:
            self._synchronous(light=light)
        conn = self.reader
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if thread.TRIPS is not None:
            thread.TRIPS["commit:" + ("light" if light else "durable")] += 1

    async def group_commit(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run `write` in a durable transaction it may share with others waiting (see the module's docstring); its
        result once committed, or its own error (rolled back alone)."""
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[T] = loop.create_future()
        entry = (write, committed, loop)
        if thread.TRIPS is not None:
            thread.TRIPS["grouped:" + getattr(write, "__qualname__", "?")] += 1
        self._grouped.append(entry)
        if not self._flush_queued:
            self._flush_queued = True
            try:
                flush = self.run(self._flush_grouped)
            except BaseException:  # the store is closed: nothing will take the write
                self._flush_queued = False
                self._grouped.remove(entry)
                raise
            # Not awaited: a caller cancelled must not cancel the flush the others' writes wait on. Its outcome
            # reaches every caller through `committed`.
            flush.add_done_callback(_flushed)
        return await committed

    def _flush_grouped(self) -> None:
        self._flush_queued = False  # before taking them: a write appended from now on queues a flush of its own
        batch = []
        while self._grouped:  # popped one by one: a write appended meanwhile is taken now or by the next flush
            batch.append(self._grouped.popleft())
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        if thread.TRIPS is not None:
            thread.TRIPS["grouped_writes"] += len(batch)
        try:
            with self.transaction() as conn:
                for write, _, _ in batch:
                    conn.execute("SAVEPOINT grouped")
                    started = time.thread_time_ns() if thread.TRIPS is not None else 0
                    try:
                        outcomes.append((True, write(conn)))
                    except Exception as error:
                        conn.execute("ROLLBACK TO grouped")
                        outcomes.append((False, error))
                    conn.execute("RELEASE grouped")
                    if thread.TRIPS is not None:
                        thread.TRIPS["grouped_cpu_us:" + getattr(write, "__qualname__", "?")] += (
                            time.thread_time_ns() - started) // 1000
        except BaseException as error:  # the commit itself failed: every caller hears of it
            outcomes = [(False, error)] * len(batch)
        for (_, future, loop), (ok, value) in zip(batch, outcomes, strict=True):
            self.answer(loop, future, ok, value)

    def answer(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        """On the store's thread: settle a caller's future with the other answers ready (one wake-up of its loop for
        them all: thread.py)."""
        self._thread.answer(loop, future, ok, value)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read, as dicts (never a write: see `reader`)."""
        cursor = self.reader.execute(sql, params)
        keys = [d[0] for d in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor]


def _flushed(flush: asyncio.Future[None]) -> None:
    """A group commit's flush has run; it answers its callers itself, so an error here is only logged."""
    if not flush.cancelled() and (error := flush.exception()) is not None:
        log.error("a group commit's flush failed", exc_info=error)


class SqlitePart:
    """One port's SQL, over the connection it shares with the other parts. Helpers run on the store's thread except
    `_run`, which gets there."""

    def __init__(self, connection: SqliteConnection) -> None:
        self._connection = connection

    def _run(self, fn: Callable[[], T], priority: int = NORMAL, *, long: bool = False) -> Awaitable[T]:
        # The store thread's future itself, not a coroutine awaiting it: a frame less on every store call.
        return self._connection.run(fn, priority, long=long)

    @property
    def db(self) -> Database:
        return self._connection.db

    def _transaction(self, *, light: bool = False) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._connection.transaction(light=light)

    @property
    def _reader(self) -> sqlite3.Connection:
        return self._connection.reader

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._connection.query(sql, params)

