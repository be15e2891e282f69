"""The SQLite store: every read and write the services need, run on one dedicated thread.

sqlite3 connections belong to the thread that made them, and SQLite allows one writer at a time, so all work goes
through one dedicated thread (thread.py): the event loop never blocks on disk, transactions never interleave, and
recording a webhook goes ahead of other work. Each method is one transaction. WAL mode with synchronous=FULL: a
committed inbox row survives a crash or power cut,
which is what lets the webhook answer 202 only after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.adapters.store.codec import incident_from_json, incident_to_json
from bot.adapters.store.sqlite.migrations import migrate
from bot.adapters.store.sqlite.report_history import DeployRecord, History, read_history, write_history
from bot.adapters.store.sqlite.thread import NORMAL, URGENT, StoreThread
from bot.domain.effects import AlertOperators, Effect, OpenIncidentChannel, PostTimelineEntry, effect_from_row
from bot.domain.incident import Decision, Incident
from bot.domain.timeline import TimelineEntry

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxRow:
    seq: int
    source: str
    event_id: str
    event_type: str
    incident_id: str | None
    body: str


@dataclass(frozen=True)
class Skip:
    """An inbox row that changes nothing: `state` is 'ignored' (not ours to handle) or 'failed' (unreadable)."""

    state: str
    reason: str


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    effect: Effect
    attempts: int
    created_at: float


@dataclass
class SlackFootprint:
    """What exists in Slack for one incident, remembered as soon as each piece is known."""

    incident_id: str
    channel_id: str | None = None
    channel_name: str | None = None
    card_ts: str | None = None
    card_pinned: bool = False
    topic: str | None = None
    announced_ts: str | None = None
    invited: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    # The card lives in a team channel (the channel policy gave the incident no channel of its own).
    shared_channel: bool = False
    # The card as last rendered says "ServiceNow sync pending".
    sync_pending_shown: bool = False


@dataclass(frozen=True)
class TicketRow:
    incident_id: str
    sys_id: str
    number: str
    link: str
    state: str | None = None
    channel_told: int = 0


@dataclass(frozen=True)
class CachedPerson:
    pagerduty_user_id: str
    name: str | None
    email: str | None
    slack_user_id: str | None
    fetched_at: float


class SqliteStore:
    """The Store port's SQLite adapter."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._thread = StoreThread()
        self._db: Database | None = None
        self._deliveries: deque[tuple[tuple[object, ...], asyncio.Future[bool], asyncio.AbstractEventLoop]] = deque()

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        migrate(conn)
        self._db = Database(conn)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown()

    async def _run(self, fn: Callable[[], T], priority: int = NORMAL) -> T:
        return await self._thread.run(fn, priority)

    @property
    def db(self) -> Database:
        assert self._db is not None, "store not open"
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block finishes, rolled back if it raises."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    # -- health ----------------------------------------------------------------------------------------------

    async def ping(self) -> bool:
        return await self._run(lambda: self.db.execute("SELECT 1").fetchone() == (1,))

    async def depths(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            inbox = dict(self.db.execute(
                "SELECT state, count(*) FROM inbox WHERE state IN ('pending', 'failed') GROUP BY state").fetchall())
            rows = self.db.execute("SELECT state, count(*) FROM outbox WHERE state != 'done' GROUP BY state")
            outbox = dict(rows.fetchall())
            return {"inbox_pending": inbox.get("pending", 0), "inbox_failed": inbox.get("failed", 0),
                    "outbox_pending": outbox.get("pending", 0), "outbox_dead": outbox.get("dead", 0)}
        return await self._run(read)

    # -- inbox -----------------------------------------------------------------------------------------------

    async def record_delivery(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                              incident_id: str | None, occurred_at: str, body: str) -> bool:
        """Store one delivery durably; False if this delivery or event was already stored (a duplicate).

        Group commit: deliveries that arrive while the writer thread is busy are committed together in one
        transaction (one fsync), so a burst costs one disk flush per batch instead of one per webhook, and no
        caller is answered before its row is on disk."""
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

    async def incident(self, incident_id: str) -> Incident | None:
        def read() -> Incident | None:
            row = self.db.execute("SELECT data FROM incidents WHERE id=?", (incident_id,)).fetchone()
            return incident_from_json(row[0]) if row else None
        return await self._run(read)

    async def incident_by_number(self, number: int) -> Incident | None:
        def read() -> Incident | None:
            row = self.db.execute("SELECT data FROM incidents WHERE number=? ORDER BY updated_at DESC LIMIT 1",
                                  (number,)).fetchone()
            return incident_from_json(row[0]) if row else None
        return await self._run(read)

    async def incidents(self) -> list[Incident]:
        return await self._run(lambda: [incident_from_json(r["data"]) for r in
                                        self._query("SELECT data FROM incidents ORDER BY number")])

    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        """Apply up to `limit` pending inbox rows, in arrival order, in one transaction on the store's thread.

        `decide` is the worker's pure use case (read the event, run the domain); it sees the incident as left by the
        earlier rows of the same batch. New state, timeline entries, effects and the inbox rows' new states commit
        together: a crash replays the whole batch, never half of it. A row whose `decide` raises is marked
        'failed' with the error (it would fail again) and does not hold up the rows behind it."""
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
                        found = conn.execute("SELECT data FROM incidents WHERE id=?", (row.incident_id,)).fetchone()
                        known[row.incident_id] = incident_from_json(found[0]) if found else None
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
                    self._persist(conn, row.seq, outcome, now)
                    if outcome.incident is not None:
                        known[outcome.incident.id] = outcome.incident
                    decisions.append(outcome)
            return decisions
        return await self._run(work)

    async def commit_decision(self, inbox_seq: int, decision: Decision, now: float) -> None:
        """Persist one decision and settle its inbox row in one transaction."""
        def write() -> None:
            with self._transaction() as conn:
                self._persist(conn, inbox_seq, decision, now)
        await self._run(write)

    def _persist(self, conn: sqlite3.Connection, inbox_seq: int, decision: Decision, now: float) -> None:
        incident = decision.incident
        if incident is not None:
            conn.execute(
                "INSERT INTO incidents (id, number, status, data, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET status=excluded.status, data=excluded.data,"
                " updated_at=excluded.updated_at",
                (incident.id, incident.number, incident.status.value, incident_to_json(incident), now))
        if decision.entry is not None:
            self._insert_entry(conn, decision.entry)
        # High urgency and P1 first (DESIGN.md); everything else after them.
        priority = 0 if incident is None or incident.urgency == "high" or incident.priority == "P1" else 1
        for effect in decision.effects:
            self._insert_effect(conn, effect, priority, now)
            if isinstance(effect, OpenIncidentChannel):
                # Entries stored before the incident was known (a note that beat the first incident event here)
                # were never posted: post them once the channel exists, in the order they happened.
                for (entry_id,) in conn.execute(
                        "SELECT id FROM timeline WHERE incident_id=? AND slack_ts IS NULL AND id != ?"
                        " ORDER BY occurred_at, rowid", (effect.incident_id, decision.entry.id if decision.entry
                                                         else "")).fetchall():
                    if not self._entry_queued(conn, entry_id):
                        self._insert_effect(conn, PostTimelineEntry(effect.incident_id, entry_id), priority, now)
        conn.execute("UPDATE inbox SET state='applied' WHERE seq=?", (inbox_seq,))

    @staticmethod
    def _entry_queued(conn: sqlite3.Connection, entry_id: str) -> bool:
        return conn.execute("SELECT 1 FROM outbox WHERE kind='post_timeline_entry' AND state='pending'"
                            " AND json_extract(payload, '$.entry_id')=?", (entry_id,)).fetchone() is not None

    @staticmethod
    def _insert_entry(conn: sqlite3.Connection, entry: TimelineEntry) -> None:
        conn.execute("INSERT OR IGNORE INTO timeline (id, incident_id, occurred_at, kind, actor, text)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     (entry.id, entry.incident_id, entry.occurred_at.isoformat(), entry.kind, entry.actor,
                      entry.text))

    @staticmethod
    def _insert_effect(conn: sqlite3.Connection, effect: Effect, priority: int, now: float) -> None:
        conn.execute("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (effect.incident_id, effect.queue, effect.kind, json.dumps(effect.payload()), priority, now, now))

    # -- timeline --------------------------------------------------------------------------------------------

    async def timeline_entry(self, entry_id: str) -> tuple[TimelineEntry, str | None] | None:
        def read() -> tuple[TimelineEntry, str | None] | None:
            rows = self._query("SELECT * FROM timeline WHERE id=?", (entry_id,))
            return (_entry(rows[0]), rows[0]["slack_ts"]) if rows else None
        return await self._run(read)

    async def incident_report(self, incident_id: str) -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
        """The timeline and the dead effects of one incident, read together (one trip to the store thread)."""
        def read() -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
            entries = [_entry(r) for r in self._query(
                "SELECT * FROM timeline WHERE incident_id=? ORDER BY occurred_at, rowid", (incident_id,))]
            dead = self._query("SELECT seq, incident_id, kind, attempts, last_error FROM outbox"
                               " WHERE state='dead' AND incident_id=? ORDER BY seq", (incident_id,))
            return entries, dead
        return await self._run(read)

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        return await self._run(lambda: [_entry(r) for r in self._query(
            "SELECT * FROM timeline WHERE incident_id=? ORDER BY occurred_at, rowid", (incident_id,))])

    async def set_timeline_ts(self, entry_id: str, ts: str) -> None:
        await self._run(lambda: self.db.execute("UPDATE timeline SET slack_ts=? WHERE id=?", (ts, entry_id)))

    # -- outbox ----------------------------------------------------------------------------------------------

    async def due_effects(self, now: float, limit: int, busy: Sequence[str]) -> list[OutboxRow]:
        """The next effect of each queue (an outside system and an incident; in order within a queue), if due;
        high urgency first. `busy` queues are skipped."""
        def read() -> list[OutboxRow]:
            placeholders = ",".join("?" * len(busy))
            exclude = f"AND o.queue NOT IN ({placeholders})" if busy else ""
            rows = self._query(
                "SELECT o.seq, o.kind, o.payload, o.attempts, o.created_at FROM outbox o"
                " WHERE o.state='pending' AND o.next_attempt_at <= ? " + exclude +
                " AND o.seq = (SELECT min(seq) FROM outbox p WHERE p.queue=o.queue AND p.state='pending')"
                " ORDER BY o.priority, o.seq LIMIT ?", (now, *busy, limit))
            return [OutboxRow(r["seq"], effect_from_row(r["kind"], json.loads(r["payload"])), r["attempts"],
                              r["created_at"]) for r in rows]
        return await self._run(read)

    async def queue_card_refreshes(self, now: float, only: Sequence[str] | None = None) -> int:
        """Queue a card refresh for every open incident (or those of `only`) with no refresh or channel opening
        already waiting: the card shows elapsed time and the money at stake, which no event updates, and an
        incident whose channel could not be opened (a dead effect) gets another try. Returns how many were queued."""
        if only is not None and not only:
            return 0
        chosen = "" if only is None else f" AND i.id IN ({','.join('?' * len(only))})"

        def write() -> int:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                    " SELECT i.id, 'slack:' || i.id, 'refresh_card', json_object('incident_id', i.id), 2, ?, ?"
                    " FROM incidents i"
                    " WHERE i.status != 'resolved'" + chosen + " AND NOT EXISTS ("
                    "   SELECT 1 FROM outbox o WHERE o.incident_id = i.id AND o.state = 'pending'"
                    "   AND o.kind IN ('refresh_card', 'open_incident_channel'))", (now, now, *(only or ())))
            return cursor.rowcount
        return await self._run(write)

    async def open_incidents(self) -> list[Incident]:
        return await self._run(lambda: [incident_from_json(r["data"]) for r in self._query(
            "SELECT data FROM incidents WHERE status != 'resolved' ORDER BY number")])

    async def next_effect_due_at(self) -> float | None:
        return await self._run(lambda: self.db.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE state='pending'").fetchone()[0])

    async def effect_done(self, seq: int) -> None:
        await self._run(lambda: self.db.execute("UPDATE outbox SET state='done', last_error=NULL WHERE seq=?",
                                                (seq,)))

    async def claim_effect(self, seq: int) -> None:
        """Count an attempt *before* performing it: after a crash mid-call, the next attempt knows it is a retry
        and looks for what the lost one may have done before doing it again."""
        await self._run(lambda: self.db.execute("UPDATE outbox SET attempts=attempts+1 WHERE seq=?", (seq,)))

    async def effect_retry(self, seq: int, next_attempt_at: float, error: str) -> None:
        await self._run(lambda: self.db.execute(
            "UPDATE outbox SET next_attempt_at=?, last_error=? WHERE seq=?",
            (next_attempt_at, error, seq)))

    async def effect_dead(self, seq: int, error: str, alert: AlertOperators | None, now: float) -> None:
        """Park an effect as dead and, in the same transaction, queue the operators' alert about it."""
        def write() -> None:
            with self._transaction() as conn:
                conn.execute("UPDATE outbox SET state='dead', last_error=? WHERE seq=?",
                             (error, seq))
                if alert is not None:
                    self._insert_effect(conn, alert, 0, now)
        await self._run(write)

    async def dead_effects(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        where = "state='dead'" + (" AND incident_id=?" if incident_id else "")
        params = (incident_id,) if incident_id else ()
        return await self._run(lambda: self._query(
            f"SELECT seq, incident_id, kind, attempts, last_error FROM outbox WHERE {where} ORDER BY seq", params))

    # -- Slack footprint -------------------------------------------------------------------------------------

    async def footprint(self, incident_id: str) -> SlackFootprint:
        def read() -> SlackFootprint:
            rows = self._query("SELECT * FROM incident_slack WHERE incident_id=?", (incident_id,))
            if not rows:
                return SlackFootprint(incident_id)
            row = rows[0]
            return SlackFootprint(
                incident_id=incident_id, channel_id=row["channel_id"], channel_name=row["channel_name"],
                card_ts=row["card_ts"], card_pinned=bool(row["card_pinned"]), topic=row["topic"],
                announced_ts=row["announced_ts"], invited=tuple(json.loads(row["invited"])),
                unreachable=tuple(json.loads(row["unreachable"])), shared_channel=bool(row["shared_channel"]),
                sync_pending_shown=bool(row["sync_pending_shown"]))
        return await self._run(read)

    async def update_footprint(self, incident_id: str, **fields: Any) -> None:
        """Remember some pieces of an incident's Slack footprint; other fields are left as they are, so steps
        that run concurrently never overwrite each other."""
        record: dict[str, Any] = {"incident_id": incident_id}
        for key, value in fields.items():
            if key not in SlackFootprint.__dataclass_fields__ or key == "incident_id":
                raise ValueError(f"unknown footprint field {key!r}")
            record[key] = json.dumps(list(value)) if key in ("invited", "unreachable") else value
        await self._run(lambda: self.db.table("incident_slack").upsert(record, pk="incident_id"))

    async def footprint_by_channel(self, channel_id: str) -> SlackFootprint | None:
        rows = await self._run(lambda: self._query(
            "SELECT incident_id FROM incident_slack WHERE channel_id=?", (channel_id,)))
        return await self.footprint(rows[0]["incident_id"]) if rows else None

    # -- ServiceNow tickets ----------------------------------------------------------------------------------

    async def ticket(self, incident_id: str) -> TicketRow | None:
        rows = await self._run(lambda: self._query("SELECT * FROM tickets WHERE incident_id=?", (incident_id,)))
        return TicketRow(**rows[0]) if rows else None

    async def ticket_by_sys_id(self, sys_id: str) -> TicketRow | None:
        rows = await self._run(lambda: self._query("SELECT * FROM tickets WHERE sys_id=?", (sys_id,)))
        return TicketRow(**rows[0]) if rows else None

    async def save_ticket(self, ticket: TicketRow) -> None:
        await self._run(lambda: self.db.table("tickets").upsert(vars(ticket), pk="incident_id"))

    async def work_note_batch(self, incident_id: str) -> tuple[str, list[TimelineEntry]]:
        """The next work note to send: a batch begun but not confirmed (the same lines again, after a timeout that
        may have delivered it), else a new batch of every line not yet sent. The batch is recorded before it is
        sent, so lines arriving meanwhile go into the next one."""
        def work() -> tuple[str, list[TimelineEntry]]:
            with self._transaction() as conn:
                where = "incident_id=? AND ticket_noted=0 AND kind NOT LIKE 'servicenow%'"
                open_batch = conn.execute(f"SELECT ticket_batch FROM timeline WHERE {where} AND ticket_batch IS NOT"
                                          " NULL ORDER BY occurred_at, rowid LIMIT 1", (incident_id,)).fetchone()
                batch = open_batch[0] if open_batch else uuid.uuid4().hex[:12]
                if not open_batch:
                    conn.execute(f"UPDATE timeline SET ticket_batch=? WHERE {where}", (batch, incident_id))
                rows = conn.execute(f"SELECT * FROM timeline WHERE {where} AND ticket_batch=?"
                                    " ORDER BY occurred_at, rowid", (incident_id, batch))
                columns = [c[0] for c in rows.description]
                entries = [_entry(dict(zip(columns, r, strict=True))) for r in rows.fetchall()]
            return batch, entries
        return await self._run(work)

    async def mark_noted(self, entry_ids: Sequence[str]) -> None:
        def write() -> None:
            self.db.execute(f"UPDATE timeline SET ticket_noted=1 WHERE id IN ({','.join('?' * len(entry_ids))})",
                            list(entry_ids))
        if entry_ids:
            await self._run(write)

    async def queue_ticket_syncs(self, now: float) -> int:
        """Queue a ticket sync for every incident with a ticket and timeline lines it has not been told, unless one
        is already waiting (the batched work notes). Returns how many were queued."""
        def write() -> int:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                    " SELECT t.incident_id, 'servicenow:' || t.incident_id, 'sync_ticket',"
                    " json_object('incident_id', t.incident_id), 2, ?, ? FROM tickets t"
                    " WHERE EXISTS (SELECT 1 FROM timeline l WHERE l.incident_id = t.incident_id"
                    "   AND l.ticket_noted = 0 AND l.kind NOT LIKE 'servicenow%')"
                    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.queue = 'servicenow:' || t.incident_id"
                    "   AND o.state = 'pending' AND o.kind = 'sync_ticket')", (now, now))
            return cursor.rowcount
        return await self._run(write)

    async def pending_in_queue(self, queue: str) -> int:
        return await self._run(lambda: int(self.db.execute(
            "SELECT count(*) FROM outbox WHERE queue=? AND state='pending'", (queue,)).fetchone()[0]))

    async def queue_effect(self, effect: Effect, now: float, priority: int = 1) -> None:
        """Queue one effect outside of an event (e.g. refresh the card once the ticket number is known)."""
        def write() -> None:
            with self._transaction() as conn:
                self._insert_effect(conn, effect, priority, now)
        await self._run(write)

    # -- incident history (reports) ---------------------------------------------------------------------------

    async def report_history(self, start: datetime | None = None, end: datetime | None = None) -> History:
        """Incidents triggered, and deploys made, in [start, end): what the reports are computed from."""
        return await self._run(lambda: read_history(self.db.conn, start, end))

    async def add_history(self, incidents: Sequence[Incident], deploys: Sequence[DeployRecord],
                          now: float) -> tuple[int, int]:
        """Backfill past incidents and deploys (ones already stored are kept); returns how many were added."""
        return await self._run(lambda: write_history(self.db.conn, incidents, deploys, now))

    # -- de-duplication --------------------------------------------------------------------------------------

    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        """The Deduplication port: one transaction claims `key` unless an unexpired claim exists."""
        def claim() -> bool:
            with self._transaction() as conn:
                conn.execute("DELETE FROM seen_once WHERE expires_at <= ?", (now,))
                inserted = conn.execute("INSERT OR IGNORE INTO seen_once (key, expires_at) VALUES (?, ?)",
                                        (key, now + window_seconds)).rowcount
            return inserted == 1
        return await self._run(claim, URGENT)

    # -- people cache ----------------------------------------------------------------------------------------

    async def person(self, pagerduty_user_id: str) -> CachedPerson | None:
        rows = await self._run(lambda: self._query("SELECT * FROM people WHERE pagerduty_user_id=?",
                                                   (pagerduty_user_id,)))
        return CachedPerson(**rows[0]) if rows else None

    async def save_person(self, person: CachedPerson) -> None:
        await self._run(lambda: self.db.table("people").upsert(vars(person), pk="pagerduty_user_id"))


def _entry(row: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(id=row["id"], incident_id=row["incident_id"],
                         occurred_at=datetime.fromisoformat(row["occurred_at"]), kind=row["kind"],
                         actor=row["actor"], text=row["text"])


def _resolve(future: asyncio.Future[bool], result: bool) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[bool], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
