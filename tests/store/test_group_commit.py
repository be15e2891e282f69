"""The SQLite store's group commit (bot/adapters/store/sqlite/connection.py): durable writes made together go to the
store's thread in one trip and commit in one transaction, a caller that stops waiting strands nobody, and a write
after the store closed is refused."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bot.adapters.store.sqlite.connection import SqliteConnection
from bot.adapters.store.sqlite.outbox import SqliteOutbox
from bot.adapters.store.sqlite.thread import NORMAL
from bot.domain.effects.servicenow import SyncTicket

T = TypeVar("T")


class CountingConnection(SqliteConnection):
    """The real connection, counting the jobs sent to the store's thread."""

    trips = 0

    def run(self, fn: Callable[[], T], priority: int = NORMAL, *, long: bool = False) -> asyncio.Future[T]:
        self.trips += 1
        return super().run(fn, priority, long=long)


async def claimed(outbox: SqliteOutbox, count: int) -> list[int]:
    """`count` effects, each in a queue of its own, queued and claimed by "a"."""
    for number in range(count):
        await outbox.queue_effect(SyncTicket(f"I{number}"), 1.0)
    rows = await outbox.claim_due_effects(2.0, {"servicenow": count}, [], owner="a", lease_seconds=30)
    return [row.seq for row in rows["servicenow"]]


async def test_effects_done_together_take_one_trip_and_one_commit(tmp_path: Path) -> None:
    connection = CountingConnection(tmp_path / "s.db")
    outbox = SqliteOutbox(connection)
    await connection.open()
    try:
        seqs = await claimed(outbox, 5)
        statements: list[str] = []
        await connection.run(lambda: connection.reader.set_trace_callback(statements.append))
        # The store's thread held busy while the five are made, as it is by an fsync in production: otherwise, on a
        # loaded machine, it could take the first write before the others were made (two trips: a flake in CI).
        gate = threading.Event()
        busy = connection.run(gate.wait)
        before = connection.trips
        done = asyncio.gather(*(outbox.effect_done(seq, owner="a") for seq in seqs))
        try:
            await asyncio.sleep(0)  # each of the five runs up to waiting for its commit
        finally:
            gate.set()
        assert await busy
        assert await done == [True] * 5
        assert connection.trips - before == 1
        assert statements.count("COMMIT") == 1
        assert await outbox.next_effect_due_at() is None  # all done
    finally:
        await connection.close()


async def test_a_caller_that_stops_waiting_strands_nobody(tmp_path: Path) -> None:
    connection = SqliteConnection(tmp_path / "s.db")
    outbox = SqliteOutbox(connection)
    await connection.open()
    try:
        seqs = await claimed(outbox, 3)
        first = asyncio.ensure_future(outbox.effect_done(seqs[0], owner="a"))
        others = [asyncio.ensure_future(outbox.effect_done(seq, owner="a")) for seq in seqs[1:]]
        await asyncio.sleep(0)  # the first has queued the flush the others ride on
        first.cancel()
        assert await asyncio.wait_for(asyncio.gather(*others), timeout=10) == [True, True]
        # And the next write still finds a flush to take it.
        await outbox.queue_effect(SyncTicket("I9"), 3.0)
        assert await outbox.pending_in_queue("servicenow:I9") == 1
    finally:
        await connection.close()


async def test_a_write_after_the_store_closed_is_refused(tmp_path: Path) -> None:
    connection = SqliteConnection(tmp_path / "s.db")
    outbox = SqliteOutbox(connection)
    await connection.open()
    await connection.close()
    with pytest.raises(RuntimeError, match="closed"):
        await outbox.queue_effect(SyncTicket("I1"), 1.0)
    with pytest.raises(RuntimeError, match="closed"):  # refused again, not left waiting
        await asyncio.wait_for(outbox.queue_effect(SyncTicket("I2"), 1.0), timeout=5)
