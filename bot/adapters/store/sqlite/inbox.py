"""Deliveries stored before they are answered, then applied in arrival order (the Inbox port), in SQLite.

Recording is group-committed: deliveries that arrive while the store's thread is busy are committed together in one
transaction (one fsync), so a burst costs one disk flush per batch instead of one per webhook, and no caller is
answered before its row is on disk. If that transaction fails, its rows are stored one by one (pending, not applied),
so only a row that cannot be stored fails (its caller answers 503) and its neighbours are stored.

Applied on arrival (`record_and_apply`): the deliveries of that transaction are applied in it, in order — each stored
already 'applied', then its incident, line and effects — in the one durable commit the delivery needed anyway: no
worker woken, the body never read back, no SAVEPOINT, and no row written twice; but not one that a row stored before
it and still pending holds back: one of its incident, or one with no incident (bot/adapters/store/arrivals.py). The
write lock (BEGIN IMMEDIATE) is what makes "nothing of its incident pending before it" hold for other replicas on the
file too. A row whose decision cannot be made there (`decide` raises or cannot read it) is set back to pending, and
holds back its incident's rows after it: the worker applies them in order, and quarantines what fails, as below.
Should storing a
decision fail, the transaction is rolled back and its deliveries stored again, pending (`_store`): failures are rare,
so they pay for the retry rather than every delivery paying for a SAVEPOINT.

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
from collections.abc import Callable, Iterator, Sequence

from bot.adapters.store.arrivals import Waiting, all_stored
from bot.adapters.store.sqlite.connection import SqliteConnection, SqlitePart
from bot.adapters.store.sqlite.incidents import insert_entry, load_incident, save_incident
from bot.adapters.store.sqlite.known_incidents import KnownIncidents
from bot.adapters.store.sqlite.outbox import entry_queued, insert_effect
from bot.adapters.store.sqlite.thread import URGENT
from bot.adapters.store.unreadable import APPLIED_HERE
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry
from bot.domain.incident import Decision, Incident
from bot.domain.quarantine import delivery_quarantined
from bot.ports.store import Arrival, FailedDelivery, Inbox, InboxRow, NewDelivery, Skip

log = logging.getLogger(__name__)
# How long one batch may hold the store's thread (deliveries wait meanwhile), and how many rows it applies whatever
# the time (fewer would spend more on the batch's fsync than on applying).
BATCH_SECONDS = 0.02
MIN_BATCH = 16
Decide = Callable[[InboxRow, Incident | None], Decision | Skip]
# How to apply a delivery on arrival (the caller's `decide` and `now`), or None to store it only.
OnArrival = tuple[Decide, float] | None
Delivery = tuple[tuple[object, ...], OnArrival, asyncio.Future[Arrival], asyncio.AbstractEventLoop]
NOT_APPLIED = Arrival(stored=True, outcome=None)
DUPLICATE = Arrival(stored=False, outcome=None)


class SqliteInbox(SqlitePart, Inbox):
    def __init__(self, connection: SqliteConnection) -> None:
        super().__init__(connection)
        self._deliveries: deque[Delivery] = deque()

    async def record_delivery(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                              incident_id: str | None, occurred_at: str, body: str) -> bool:
        row = (source, delivery_id, event_id, event_type, incident_id, occurred_at, body)
        return (await self._arrive(row, None)).stored

    async def record_deliveries(self, deliveries: Sequence[NewDelivery]) -> list[bool]:
        loop = asyncio.get_running_loop()
        arrived: list[asyncio.Future[Arrival]] = [loop.create_future() for _ in deliveries]
        # One extend (atomic for the store's thread, which may be taking a batch meanwhile): one flush takes them all.
        self._deliveries.extend([(tuple(row), None, future, loop)
                                 for row, future in zip(deliveries, arrived, strict=True)])
        await self._run(self._flush_deliveries, URGENT)
        return await all_stored(arrived)

    async def record_and_apply(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                               incident_id: str | None, occurred_at: str, body: str, decide: Decide,
                               now: float) -> Arrival:
        return await self._arrive((source, delivery_id, event_id, event_type, incident_id, occurred_at, body),
                                  (decide, now))

    async def _arrive(self, row: tuple[object, ...], on_arrival: OnArrival) -> Arrival:
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[Arrival] = loop.create_future()
        self._deliveries.append((row, on_arrival, arrived, loop))
        await self._run(self._flush_deliveries, URGENT)
        return await arrived

    def _flush_deliveries(self) -> None:
        batch = []
        while self._deliveries:
            batch.append(self._deliveries.popleft())
        if not batch:
            return  # an earlier flush already committed this caller's delivery
        conn = self.db.conn
        outcomes: list[Arrival | BaseException]
        try:
            outcomes = list(self._store(conn, [(row, on_arrival) for row, on_arrival, _, _ in batch]))
        except Exception as error:
            if len(batch) == 1:
                outcomes = [error]
            else:
                # One row may be what failed the batch: store them one by one, so only that row's caller hears of it
                # (and answers 5xx, so that its sender retries it) while the others are stored.
                log.warning("a batch of %d deliveries could not be stored together (%s); storing them one by one",
                            len(batch), error.__class__.__name__)
                outcomes = [_insert_alone(conn, row) for row, _, _, _ in batch]
        except BaseException as error:
            # Every caller of the batch hears of it, whatever else goes wrong here; none is left waiting.
            for _, _, future, loop in batch:
                self._connection.answer(loop, future, False, error)
            return
        for (_, _, future, loop), outcome in zip(batch, outcomes, strict=True):
            self._connection.answer(loop, future, not isinstance(outcome, BaseException), outcome)

    def _store(self, conn: sqlite3.Connection,
               deliveries: list[tuple[tuple[object, ...], OnArrival]]) -> list[Arrival]:
        """Store deliveries in one transaction, applying those asked to be (see the module's docstring). Should
        applying them fail the transaction (a decision the store cannot hold), they are stored again, only stored:
        the worker applies them, or quarantines the row that fails. Raises if storing them fails."""
        if any(on_arrival is not None for _, on_arrival in deliveries):
            try:
                return self._store_deliveries(conn, deliveries)
            except Exception as error:
                log.warning("%d deliveries could not be applied as they arrived (%s); stored for the worker",
                            len(deliveries), error.__class__.__name__)
        return self._store_deliveries(conn, [(row, None) for row, _ in deliveries])

    def _store_deliveries(self, conn: sqlite3.Connection,
                          deliveries: list[tuple[tuple[object, ...], OnArrival]]) -> list[Arrival]:
        """One transaction; rolled back whole if anything in it fails."""
        with _immediate(conn):
            # What is pending is looked at under the write lock: other replicas on the file too.
            waiting = _waiting(conn) if any(on_arrival is not None for _, on_arrival in deliveries) else None
            known: dict[str, Incident | None] = {}
            arrivals = []
            for row, on_arrival in deliveries:
                incident_id = None if row[4] is None else str(row[4])
                if waiting is not None and on_arrival is not None and not waiting.holds(incident_id):
                    arrival = self._apply_arriving(conn, row, on_arrival, known)
                else:
                    arrival = NOT_APPLIED if _insert(conn, row) is not None else DUPLICATE
                if waiting is not None and arrival.stored and arrival.outcome is None:
                    waiting.left(incident_id)  # it holds back its incident's rows after it: the worker applies them
                arrivals.append(arrival)
        return arrivals

    def _apply_arriving(self, conn: sqlite3.Connection, values: tuple[object, ...], on_arrival: tuple[Decide, float],
                        known: dict[str, Incident | None]) -> Arrival:
        """Store one delivery as applied and apply it: a failure to decide leaves it pending (the worker decides
        again, and quarantines it if it fails there too); a failure to store the decision raises (see `_store`)."""
        cursor = conn.execute(INSERT_APPLIED, values)
        if cursor.rowcount != 1:
            return DUPLICATE
        seq = cursor.lastrowid
        assert seq is not None
        decide, now = on_arrival
        source, _, event_id, event_type, incident_id, _, body = values
        row = InboxRow(seq, str(source), str(event_id), str(event_type),
                       None if incident_id is None else str(incident_id), str(body))
        try:
            if row.incident_id is not None and row.incident_id not in known:
                known[row.incident_id] = load_incident(conn, row.incident_id, self._connection.known_incidents)
            outcome = decide(row, known.get(row.incident_id) if row.incident_id else None)
        except Exception as error:
            log.info("inbox row %s (%s) left for the worker: %s", seq, row.event_type, error.__class__.__name__)
            outcome = Skip("failed", "")
        if isinstance(outcome, Skip):
            if outcome.state == "failed":
                conn.execute("UPDATE inbox SET state='pending' WHERE seq=?", (seq,))
                return NOT_APPLIED
            conn.execute("UPDATE inbox SET state=?, error=? WHERE seq=?", (outcome.state, _safe(outcome.reason), seq))
            return Arrival(stored=True, outcome=outcome)
        _persist(conn, seq, outcome, now, self._connection.known_incidents, mark_applied=False)
        if outcome.incident is not None:
            known[outcome.incident.id] = outcome.incident
        return Arrival(stored=True, outcome=outcome)

    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        def work() -> list[Decision]:
            # A look without the write lock first: an idle worker polls, and must not queue behind other writers.
            if self.db.execute(f"SELECT 1 FROM inbox WHERE state='pending' AND {APPLIED_HERE} LIMIT 1"
                               ).fetchone() is None:
                return []
            decisions: list[Decision] = []
            known: dict[str, Incident | None] = {}
            with self._transaction() as conn:
                # The rows are read under the write lock (BEGIN IMMEDIATE), not before it: another replica on this
                # file may have applied them in between, and applying them again would repeat their effects.
                cursor = conn.execute(PENDING_ROWS, (limit,))
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


# Parameter: the limit. The pending rows in arrival order, those this version applies (a record a newer version wrote
# is left for it, with its incident's rows behind it: bot/adapters/store/unreadable.py).
PENDING_ROWS = ("SELECT seq, source, event_id, event_type, incident_id, body, reference FROM inbox"
                f" WHERE state='pending' AND {APPLIED_HERE} ORDER BY seq LIMIT ?")
INSERT_DELIVERY = ("INSERT OR IGNORE INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                   " received_at, body) VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?)")
# Stored as applied when it is applied on arrival (set back to pending, in the same transaction, if it is not).
INSERT_APPLIED = ("INSERT OR IGNORE INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                  " received_at, body, state) VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?,"
                  " 'applied')")


# Whether a row of an incident (parameter: its id) is pending, or one with no incident: a seek into
# inbox_pending_incident (migration 22), named, for the planner would walk inbox_pending (every row pending) for the
# rows with none.
INCIDENT_PENDING = "SELECT 1 FROM inbox INDEXED BY inbox_pending_incident WHERE state='pending' AND incident_id=?"
LOOSE_PENDING = "SELECT 1 FROM inbox INDEXED BY inbox_pending_incident WHERE state='pending' AND incident_id IS NULL"


def _waiting(conn: sqlite3.Connection) -> Waiting:
    """What is pending, as the transaction's deliveries are stored (bot/adapters/store/arrivals.py)."""
    def pending(sql: str, *args: str) -> bool:
        return conn.execute(sql + " LIMIT 1", args).fetchone() is not None
    return Waiting(pending(LOOSE_PENDING), lambda: pending("SELECT 1 FROM inbox WHERE state='pending'"),
                   lambda incident_id: pending(INCIDENT_PENDING, incident_id))


def _insert(conn: sqlite3.Connection, row: tuple[object, ...]) -> int | None:
    """Store one delivery (in the caller's transaction): its seq, or None for a duplicate."""
    cursor = conn.execute(INSERT_DELIVERY, row)
    return cursor.lastrowid if cursor.rowcount == 1 else None


def _insert_alone(conn: sqlite3.Connection, row: tuple[object, ...]) -> Arrival | Exception:
    """One delivery stored (pending) in a transaction of its own."""
    try:
        with _immediate(conn):
            return NOT_APPLIED if _insert(conn, row) is not None else DUPLICATE
    except Exception as error:
        return error


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
    """Mark the row failed with its reason and reference (a new one unless it has one), and queue the one alert (and
    word to whoever asked for a role from Slack)."""
    again, reference = reference is not None, reference or uuid.uuid4().hex[:8]  # again: its person was told
    reason = _safe(reason)[:500]
    conn.execute("UPDATE inbox SET state='failed', error=?, reference=? WHERE seq=?", (reason, reference, row.seq))
    for effect in delivery_quarantined(reference, row.source, row.event_type, row.incident_id, reason, row.body,
                                       again=again):
        insert_effect(conn, effect, 0, now)
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
             decoded: KnownIncidents, *, mark_applied: bool = True) -> None:
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
    if mark_applied:
        conn.execute("UPDATE inbox SET state='applied' WHERE seq=?", (inbox_seq,))

