"""Deliveries stored before they are answered, then applied in arrival order (the Inbox port), in SQLite.

Recording is group-committed: deliveries that arrive while the store's thread is busy are committed together in one
transaction (one fsync), so a burst costs one disk flush per batch instead of one per webhook, and no caller is
answered before its row is on disk. Applying a decision writes the incident, its timeline entry, its effects and the
row's new state in one transaction: a crash replays the whole batch, never half of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable

from bot.adapters.store.sqlite.connection import SqliteConnection, SqlitePart
from bot.adapters.store.sqlite.incidents import insert_entry, load_incident, save_incident
from bot.adapters.store.sqlite.outbox import entry_queued, insert_effect
from bot.adapters.store.sqlite.thread import URGENT
from bot.domain.effects import OpenIncidentChannel, PostTimelineEntry
from bot.domain.incident import Decision, Incident
from bot.ports.store import Inbox, InboxRow, Skip

log = logging.getLogger(__name__)
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
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [conn.execute(
                "INSERT OR IGNORE INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                " received_at, body) VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?)",
                row).rowcount == 1 for row, _, _ in batch]
            conn.execute("COMMIT")
        except BaseException as error:
            # Every caller of the batch hears of the failure (they answer 5xx and PagerDuty retries), whatever
            # else goes wrong here; none is left waiting.
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            for _, future, loop in batch:
                loop.call_soon_threadsafe(_fail, future, error)
            return
        for (_, future, loop), result in zip(batch, results, strict=True):
            loop.call_soon_threadsafe(_resolve, future, result)

    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        def work() -> list[Decision]:
            rows = [InboxRow(**r) for r in self._query(
                "SELECT seq, source, event_id, event_type, incident_id, body FROM inbox WHERE state='pending'"
                " ORDER BY seq LIMIT ?", (limit,))]
            if not rows:
                return []
            decisions: list[Decision] = []
            known: dict[str, Incident | None] = {}
            with self._transaction() as conn:
                for row in rows:
                    if row.incident_id is not None and row.incident_id not in known:
                        known[row.incident_id] = load_incident(conn, row.incident_id)
                    try:
                        outcome = decide(row, known.get(row.incident_id) if row.incident_id else None)
                    except Exception as error:  # a bug in one event must not stop the queue
                        reference = uuid.uuid4().hex[:8]
                        log.exception("inbox row %s (%s) failed to apply (reference %s)", row.seq, row.event_type,
                                      reference)
                        outcome = Skip("failed", f"{error.__class__.__name__} (reference {reference})")
                    if isinstance(outcome, Skip):
                        conn.execute("UPDATE inbox SET state=?, error=? WHERE seq=?",
                                     (outcome.state, outcome.reason, row.seq))
                        continue
                    _persist(conn, row.seq, outcome, now)
                    if outcome.incident is not None:
                        known[outcome.incident.id] = outcome.incident
                    decisions.append(outcome)
            return decisions
        return await self._run(work)

    async def commit_decision(self, inbox_seq: int, decision: Decision, now: float) -> None:
        def write() -> None:
            with self._transaction() as conn:
                _persist(conn, inbox_seq, decision, now)
        await self._run(write)


def _persist(conn: sqlite3.Connection, inbox_seq: int, decision: Decision, now: float) -> None:
    incident = decision.incident
    if incident is not None:
        save_incident(conn, incident, now)
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


def _resolve(future: asyncio.Future[bool], result: bool) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[bool], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
