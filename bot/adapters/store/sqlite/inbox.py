"""Deliveries stored before they are answered, then applied in arrival order (the Inbox port), in SQLite.

Recording is group-committed: deliveries that arrive while the store's thread is busy are committed together in one
transaction (one fsync), so a burst costs one disk flush per batch instead of one per webhook, and no caller is
answered before its row is on disk. If that transaction fails, its rows are stored one by one, so only a row that
cannot be stored fails (its caller answers 503) and its neighbours are stored.

Applying a batch writes each decision's incident, timeline entry, effects and the row's new state in one transaction:
a crash replays the whole batch, never half of it. A batch is as big as the worker asks, but past `MIN_BATCH` rows
it ends early once it has held the store's thread for `BATCH_SECONDS`: a burst is applied many rows per transaction
(one fsync for them all), and a webhook waits at most about that long behind it.

Each row is applied inside a SAVEPOINT: a row that fails at any step (reading its incident, deciding, storing the
decision) is rolled back alone and QUARANTINED — marked 'failed' with its reason and a reference, with one
operators' alert queued in the same transaction — and the batch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Callable

from bot.adapters.store.sqlite.connection import SqliteConnection, SqlitePart
from bot.adapters.store.sqlite.incidents import insert_entry, load_incident, save_incident
from bot.adapters.store.sqlite.known_incidents import KnownIncidents
from bot.adapters.store.sqlite.outbox import entry_queued, insert_effect
from bot.adapters.store.sqlite.thread import URGENT
from bot.domain.effects import OpenIncidentChannel, PostTimelineEntry, delivery_quarantined
from bot.domain.incident import Decision, Incident
from bot.ports.store import FailedDelivery, Inbox, InboxRow, Skip

log = logging.getLogger(__name__)
# How long one batch may hold the store's thread (deliveries wait meanwhile), and how many rows it applies whatever
# the time (fewer would spend more on the batch's fsync than on applying).
BATCH_SECONDS = 0.02
MIN_BATCH = 16
Delivery = tuple[tuple[object, ...], asyncio.Future[bool], asyncio.AbstractEventLoop]


class SqliteInbox(SqlitePart, Inbox):
    def __init__(self, connection: SqliteConnection) -> None:
        super().__init__(connection)
        self._deliveries: deque[Delivery] = deque()

    async def record_delivery(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                              incident_id: str | None, occurred_at: str, body: str) -> bool:
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[bool] = loop.create_future()
        self._deliveries.append(((source, delivery_id, event_id, event_type, incident_id, occurred_at, body),
                                 stored, loop))
        await self._run(self._flush_deliveries, URGENT)
        return await stored

    def _flush_deliveries(self) -> None:
        batch = []
        while self._deliveries:
            batch.append(self._deliveries.popleft())
        if not batch:
            return  # an earlier flush already committed this caller's delivery
        conn = self.db.conn
        outcomes: list[bool | BaseException]
        try:
            outcomes = list(_insert_deliveries(conn, [row for row, _, _ in batch]))
        except Exception as error:
            if len(batch) == 1:
                outcomes = [error]
            else:
                # One row may be what failed the batch: store them one by one, so only that row's caller hears of it
                # (and answers 5xx, so that its sender retries it) while the others are stored.
                log.warning("a batch of %d deliveries could not be stored together (%s); storing them one by one",
                            len(batch), error.__class__.__name__)
                outcomes = [_insert_alone(conn, row) for row, _, _ in batch]
        except BaseException as error:
            # Every caller of the batch hears of it, whatever else goes wrong here; none is left waiting.
            for _, future, loop in batch:
                self._connection.answer(loop, future, False, error)
            return
        for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
            self._connection.answer(loop, future, not isinstance(outcome, BaseException), outcome)

    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        def work() -> list[Decision]:
            # A look without the write lock first: an idle worker polls, and must not queue behind other writers.
            if self.db.execute("SELECT 1 FROM inbox WHERE state='pending' LIMIT 1").fetchone() is None:
                return []
            decisions: list[Decision] = []
            known: dict[str, Incident | None] = {}
            with self._transaction() as conn:
                # The rows are read under the write lock (BEGIN IMMEDIATE), not before it: another replica on this
                # file may have applied them in between, and applying them again would repeat their effects.
                cursor = conn.execute("SELECT seq, source, event_id, event_type, incident_id, body, reference"
                                      " FROM inbox WHERE state='pending' ORDER BY seq LIMIT ?", (limit,))
                started = time.perf_counter()
                for number, (seq, source, event_id, event_type, incident_id, body, reference) in \
                        enumerate(cursor.fetchall()):
                    if number >= MIN_BATCH and time.perf_counter() - started > BATCH_SECONDS:
                        break  # the rest stay pending for the next batch, after the waiting deliveries are stored
                    row = InboxRow(seq, source, event_id, event_type, incident_id, body)
                    conn.execute("SAVEPOINT inbox_row")
                    try:
                        outcome = _apply(conn, row, decide, known, now, self._connection.known_incidents)
                    except Exception as error:  # one row, at any step, must not stop the queue
                        conn.execute("ROLLBACK TO inbox_row")
                        reference = _quarantine(conn, row, reference, _reason(error), now)
                        log.exception("inbox row %s (%s) could not be applied; set aside as reference %s", row.seq,
                                      row.event_type, reference)
                        outcome = None
                    if isinstance(outcome, Skip) and outcome.state == "failed":
                        reference = _quarantine(conn, row, reference, outcome.reason, now)
                        log.warning("inbox row %s (%s) cannot be read; set aside as reference %s: %s", row.seq,
                                    row.event_type, reference, _safe(outcome.reason))
                    conn.execute("RELEASE inbox_row")
                    if isinstance(outcome, Decision):
                        if outcome.incident is not None:
                            known[outcome.incident.id] = outcome.incident
                        decisions.append(outcome)
            return decisions
        return await self._run(work)

    async def commit_decision(self, inbox_seq: int, decision: Decision, now: float) -> None:
        def write() -> None:
            with self._transaction() as conn:
                _persist(conn, inbox_seq, decision, now, self._connection.known_incidents)
        await self._run(write)

    async def failed_deliveries(self, limit: int | None = None) -> list[FailedDelivery]:
        return await self._run(lambda: read_failed(self.db.conn, limit))

    async def retry_delivery(self, reference: str) -> bool:
        return await self._run(lambda: retry_failed(self.db.conn, reference))


INSERT_DELIVERY = ("INSERT OR IGNORE INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                   " received_at, body) VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?)")


def _insert_deliveries(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> list[bool]:
    """Store deliveries in one transaction; whether each was new (not a duplicate). Rolled back if any fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        results = [conn.execute(INSERT_DELIVERY, row).rowcount == 1 for row in rows]
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise
    return results


def _insert_alone(conn: sqlite3.Connection, row: tuple[object, ...]) -> bool | Exception:
    try:
        return _insert_deliveries(conn, [row])[0]
    except Exception as error:
        return error


def _apply(conn: sqlite3.Connection, row: InboxRow, decide: Callable[[InboxRow, Incident | None], Decision | Skip],
           known: dict[str, Incident | None], now: float, decoded: KnownIncidents) -> Decision | Skip:
    """One row: its incident (as the batch left it), the decision, and the decision stored; raises on any failure."""
    if row.incident_id is not None and row.incident_id not in known:
        known[row.incident_id] = load_incident(conn, row.incident_id, decoded)
    outcome = decide(row, known.get(row.incident_id) if row.incident_id else None)
    if isinstance(outcome, Skip):
        if outcome.state != "failed":
            conn.execute("UPDATE inbox SET state=?, error=? WHERE seq=?", (outcome.state, _safe(outcome.reason),
                                                                            row.seq))
        return outcome
    _persist(conn, row.seq, outcome, now, decoded)
    return outcome


def _quarantine(conn: sqlite3.Connection, row: InboxRow, reference: str | None, reason: str, now: float) -> str:
    """Mark the row failed with its reason and reference (a new one unless it has one), and queue the one alert."""
    reference = reference or uuid.uuid4().hex[:8]
    reason = _safe(reason)[:500]
    conn.execute("UPDATE inbox SET state='failed', error=?, reference=? WHERE seq=?", (reason, reference, row.seq))
    insert_effect(conn, delivery_quarantined(reference, row.source, row.event_type, row.incident_id, reason), 0, now)
    return reference


def _reason(error: BaseException) -> str:
    detail = str(error)
    return f"{error.__class__.__name__}: {detail}" if detail else error.__class__.__name__


def _safe(text: str) -> str:
    """Text any store can hold: lone surrogates written as escapes, NUL removed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "")


def read_failed(conn: sqlite3.Connection, limit: int | None = None) -> list[FailedDelivery]:
    """The quarantined deliveries, the latest received first (used by the port, and by `pavedroad inbox failed`
    on a read-only connection of its own)."""
    rows = conn.execute(
        "SELECT reference, received_at, source, event_type, incident_id, error FROM inbox WHERE state='failed'"
        " ORDER BY seq DESC LIMIT ?", (-1 if limit is None else limit,)).fetchall()
    return [FailedDelivery(reference or "", received_at, source, event_type, incident_id, error or "")
            for reference, received_at, source, event_type, incident_id, error in rows]


def retry_failed(conn: sqlite3.Connection, reference: str) -> bool:
    """Set a quarantined delivery back to pending (its reference is kept, should it fail again)."""
    with contextlib.closing(conn.execute("UPDATE inbox SET state='pending', error=NULL WHERE state='failed'"
                                         " AND reference=?", (reference.strip().lower(),))) as cursor:
        return cursor.rowcount > 0


def _persist(conn: sqlite3.Connection, inbox_seq: int, decision: Decision, now: float,
             decoded: KnownIncidents) -> None:
    incident = decision.incident
    if incident is not None:
        save_incident(conn, incident, now, decoded)
    if decision.entry is not None:
        insert_entry(conn, decision.entry)
    # High urgency and P1 first (DESIGN.md); everything else after them.
    priority = 0 if incident is None or incident.urgency == "high" or incident.priority == "P1" else 1
    for effect in decision.effects:
        insert_effect(conn, effect, priority, now)
        if isinstance(effect, OpenIncidentChannel):
            # Entries stored before the incident was known (a note that beat the first incident event here)
            # were never posted: post them once the channel exists, in the order they happened.
            for (entry_id,) in conn.execute(
                    "SELECT id FROM timeline WHERE incident_id=? AND slack_ts IS NULL AND id != ?"
                    " ORDER BY occurred_at, rowid", (effect.incident_id, decision.entry.id if decision.entry
                                                     else "")).fetchall():
                if not entry_queued(conn, entry_id):
                    insert_effect(conn, PostTimelineEntry(effect.incident_id, entry_id), priority, now)
    conn.execute("UPDATE inbox SET state='applied' WHERE seq=?", (inbox_seq,))

