"""A piece an effect writes at once (bot/services/bookkeeping.py, `at_once=True`) takes the pieces kept so far with it;
when the store refuses that write, or the effect is stopped while it is under way, those pieces are recorded with the
effect's outcome all the same — the retry's record, or the facts an effect stopped mid-call leaves — instead of being
lost with the write.

The executor stands in for the outside world (Slack and ServiceNow answered); the store is the real SQLite store,
made to refuse writes to a table by a trigger (as a full disk or a broken file would refuse them) or, for the stop,
holding a footprint write as a stuck disk would."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.slack import OpenIncidentChannel
from bot.metrics import Metrics
from bot.ports.store import FootprintChange, IncidentInSlack, TicketRow
from bot.services.bookkeeping import remember_footprint, remember_ticket
from bot.services.dispatcher import CANCELLED, Dispatcher
from tests.helpers import rows

TICKET = TicketRow("Q1", "sys-1", "INC1", "https://sn/1", "2")
LINK_SENT_TICKET = TicketRow("Q1", "sys-1", "INC1", "https://sn/1", "2", channel_told=2)


@contextlib.contextmanager
def refusing_writes(db: Path, table: str) -> Iterator[None]:
    """The store's file refuses every write to `table` within the block."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for when in ("INSERT", "UPDATE"):
            conn.execute(f"CREATE TRIGGER refuse_{when.lower()} BEFORE {when} ON {table}"
                         " BEGIN SELECT RAISE(ABORT, 'the disk refused the write'); END")
        yield
    finally:
        conn.execute("DROP TRIGGER IF EXISTS refuse_insert")
        conn.execute("DROP TRIGGER IF EXISTS refuse_update")
        conn.close()


class LearnsThenWritesAtOnce:
    """Opening the channel: the card is posted and the ticket known (both kept for the outcome); then `at_once`
    writes a piece at once, which the store refuses when `refused` names its table (the refusal lifted after it)."""

    def __init__(self, store: SqliteStore, db: Path, at_once: Callable[[], Awaitable[None]],
                 refused: str | None = None) -> None:
        self.store, self.db, self.at_once, self.refused = store, db, at_once, refused

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        await remember_footprint(self.store, "Q1", card_ts="1.1", topic="🔴 checkout down")
        await remember_ticket(self.store, TICKET)
        if self.refused is None:
            await self.at_once()
            return
        with refusing_writes(self.db, self.refused):
            await self.at_once()

    async def after_done(self, effect: Effect) -> None:
        return None


def dispatcher(store: SqliteStore, world: LearnsThenWritesAtOnce) -> Dispatcher:
    return Dispatcher(store, world, SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True), Metrics(),
                      owner="at-once")


def opening(db: Path) -> dict[str, Any]:
    [row] = rows(db, "SELECT state, attempts, last_error FROM outbox WHERE kind=?", ("open_incident_channel",))
    return row


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = SqliteStore(tmp_path / "d.db")
    await s.open()
    await s.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    yield s
    await s.close()


async def test_footprint_pieces_kept_before_a_refused_at_once_write_are_recorded_with_the_retry(
        store: SqliteStore, tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    world = LearnsThenWritesAtOnce(store, db, lambda: remember_footprint(store, "Q1", at_once=True, channel_id="C1"),
                                   refused="incident_slack")
    d = dispatcher(store, world)
    assert await d.start_due() == 1
    await d.finish_in_flight()

    row = opening(db)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("unexpected IntegrityError")  # retried: the refusal was the failure
    footprint = await store.footprint("Q1")
    assert (footprint.card_ts, footprint.topic) == ("1.1", "🔴 checkout down")
    assert footprint.channel_id is None  # the refused piece itself is not claimed stored
    assert await store.ticket("Q1") == TICKET


async def test_a_ticket_refused_at_once_is_recorded_with_the_retry(store: SqliteStore, tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    world = LearnsThenWritesAtOnce(store, db, lambda: remember_ticket(store, LINK_SENT_TICKET, at_once=True),
                                   refused="tickets")
    d = dispatcher(store, world)
    assert await d.start_due() == 1
    await d.finish_in_flight()

    assert (opening(db)["state"], opening(db)["attempts"]) == ("pending", 1)
    # The ticket kept before was superseded by the row written at once; that row, whole, is what the retry records
    # (its LINK_SENT says the note may have gone: the next attempt looks for it before sending it).
    assert await store.ticket("Q1") == LINK_SENT_TICKET
    assert (await store.footprint("Q1")).card_ts == "1.1"


class StuckFootprintWrites(SqliteStore):
    """The real store, whose footprint writes never finish (a stuck disk); `writing` says one is under way."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writing = asyncio.Event()

    async def update_footprint(self, incident_id: str, **changes: Unpack[FootprintChange]) -> None:
        self.writing.set()
        await asyncio.Event().wait()


async def test_footprint_pieces_kept_before_an_at_once_write_cut_short_by_a_stop_are_recorded(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    store = StuckFootprintWrites(db)
    await store.open()
    try:
        await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
        world = LearnsThenWritesAtOnce(store, db,
                                       lambda: remember_footprint(store, "Q1", at_once=True, channel_id="C1"))
        running = asyncio.create_task(dispatcher(store, world).run())
        await store.writing.wait()
        running.cancel()  # the bot stops while the channel's id is being written
        with contextlib.suppress(asyncio.CancelledError):
            await running

        row = opening(db)
        assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 1, CANCELLED)
        footprint = await store.footprint("Q1")
        assert (footprint.card_ts, footprint.topic, footprint.channel_id) == ("1.1", "🔴 checkout down", None)
        assert await store.ticket("Q1") == TICKET
    finally:
        await store.close()
