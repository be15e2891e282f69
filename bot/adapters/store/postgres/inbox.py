"""Deliveries stored before they are answered, then applied in arrival order (the Inbox port), in PostgreSQL.

Recording is group-committed, as in SQLite: deliveries that arrive while earlier ones are being stored wait in a
queue, and each flusher (at most `FLUSHERS` at a time, each on a connection of the pool) commits everything waiting
in one transaction, stored by one statement (one round trip, one WAL flush for the batch). No caller is answered
before its row is committed. A batch that fails is stored again a row at a time (pending), so only a row that cannot
be stored fails (its caller answers 503) — unless the database is unreachable: then all its callers hear so at once.

Applied on arrival (`record_and_apply`): a flusher that gets the appliers' lock at once (`pg_try_advisory_xact_lock`,
never waiting for it; asked in the same round trip as the inserts) applies the batch's rows in its transaction, in
order, pipelined in one SAVEPOINT — one commit for the delivery and its decision, no worker woken, the body not read
back — but those a row stored before them and still pending holds back (one of their incident, or one with no
incident: bot/adapters/store/arrivals.py), read once the lock is held. A flusher that does not get the lock only
stores. A row that cannot be decided stays pending and holds back its incident's rows after it; a decision that cannot
be stored undoes the SAVEPOINT, and every row of the batch stays pending: the worker applies or quarantines them.

Applying is exactly once and in arrival order, even with several replicas on one database. The rule: ONE APPLIER AT
A TIME. `apply_pending` takes a transaction-scoped advisory lock (`pg_advisory_xact_lock(INBOX_LOCK)`) before it
reads the pending rows, and the lock is released by the same COMMIT that marks them applied. A second applier (the
other replica's worker) waits for the lock, then reads the rows still pending in a fresh snapshot (READ COMMITTED
takes one per statement): it can never see a row the first has applied as pending, nor apply rows out of order.
This is sound and simple because what runs under the lock is short: `decide` is pure and fast, and the slow work —
calls to Slack, PagerDuty and ServiceNow — happens later, from the outbox, outside the lock. A crash releases the
lock with the transaction it belonged to; nothing is left half-applied.

A batch costs three round trips, all in pipeline mode: BEGIN, the lock and the pending rows with their incidents
(one query); the rows' writes in one SAVEPOINT, staged and sent as a few statements (decision_writes.py); the COMMIT.
Should any row fail, that savepoint is rolled back and the batch applied again row by row, as below (`decide` is pure:
deciding twice decides the same).

Within a batch each row is applied inside a SAVEPOINT: a row that fails at any step (reading its incident,
deciding, storing the decision) is rolled back alone and QUARANTINED — marked 'failed' with its reason and a
reference, with one operators' alert queued in the same transaction — and the batch goes on. A lost connection is
not the row's fault: it fails the whole batch (rolled back, retried by the worker), and quarantines nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from bot.adapters.store.arrivals import Waiting, all_stored
from bot.adapters.store.codec import incident_from_json
from bot.adapters.store.postgres.connection import Connection, PostgresConnection, PostgresPart, connection_lost
from bot.adapters.store.postgres.decision_writes import StagedWrites, columns, persist_decision
from bot.adapters.store.postgres.incidents import load_incident
from bot.adapters.store.postgres.outbox import insert_effect
from bot.adapters.store.unreadable import APPLIED_HERE
from bot.domain.incident import Decision, Incident
from bot.domain.quarantine import delivery_quarantined
from bot.ports.store import Arrival, FailedDelivery, Inbox, InboxRow, NewDelivery, Skip

log = logging.getLogger(__name__)
# The key of the advisory lock an applier holds for its batch ('pavedrd' + 2).
INBOX_LOCK = 0x70617665647264_02
# Deliveries stored at once: a few transactions in flight keep the disk busy without starving the other work.
FLUSHERS = 4
# How long applying a batch holds the event loop before it lets the webhooks in flight have their turn.
TURN_SECONDS = 0.005
Row = tuple[object, ...]
Decide = Callable[[InboxRow, Incident | None], Decision | Skip]
# How to apply a delivery on arrival (the caller's `decide` and `now`), or None to store it only.
OnArrival = tuple[Decide, float] | None
Delivery = tuple[Row, OnArrival, asyncio.Future[Arrival]]
NOT_APPLIED = Arrival(stored=True, outcome=None)
DUPLICATE = Arrival(stored=False, outcome=None)

# Deliveries in arrival order (their seq follows it), each stored unless one with its delivery id or its event id is
# (within its source): the rows stored come back, and the caller matches them to the deliveries (`_seqs`).
INSERT_DELIVERIES = (b"INSERT INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                     b" received_at, body) SELECT source, delivery_id, event_id, event_type, incident_id, occurred_at,"
                     b" to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), body"
                     b" FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[])"
                     b" WITH ORDINALITY AS d(source, delivery_id, event_id, event_type, incident_id, occurred_at, body,"
                     b" n) ORDER BY n ON CONFLICT DO NOTHING RETURNING seq, source, delivery_id, event_id")


# When deliveries are stored to be applied as they arrive: the appliers' lock, taken only if free and only if one of
# them could be applied (held until the commit, it would keep the worker waiting for a batch not applied here): one of
# an incident with no row pending (`incidents`), or, with no incident (`loose`), while nothing is; and never while a
# row with no incident is pending. Then, in a statement of its own (a snapshot taken once the lock is held), what
# holds them back — whether any row is pending, whether one with no incident is, their incidents with a row pending —
# and the stored JSON of the others. Both are read before the deliveries are stored; each look at an incident's
# pending rows is a seek into inbox_pending_incident (migration 22).
ARRIVAL_LOCK = (b"SELECT CASE WHEN EXISTS (SELECT 1 FROM inbox WHERE state='pending' AND incident_id IS NULL)"
                b" THEN false WHEN EXISTS (SELECT 1 FROM unnest(%(incidents)s::text[]) a(id) WHERE NOT EXISTS"
                b" (SELECT 1 FROM inbox WHERE state='pending' AND incident_id = a.id)) OR (%(loose)s AND NOT EXISTS"
                b" (SELECT 1 FROM inbox WHERE state='pending')) THEN pg_try_advisory_xact_lock(%(lock)s) ELSE false"
                b" END AS locked")
ARRIVAL_STATE = (b"SELECT EXISTS (SELECT 1 FROM inbox WHERE state='pending') AS waiting,"
                 b" EXISTS (SELECT 1 FROM inbox WHERE state='pending' AND incident_id IS NULL) AS loose,"
                 b" h.held, (SELECT coalesce(jsonb_object_agg(id, data), '{}'::jsonb) FROM incidents"
                 b" WHERE id = ANY(%(incidents)s) AND id != ALL(h.held)) AS incidents"
                 b" FROM (SELECT coalesce(array_agg(a.id), '{}') AS held FROM unnest(%(incidents)s::text[]) a(id)"
                 b" WHERE EXISTS (SELECT 1 FROM inbox WHERE state='pending' AND incident_id = a.id)) h")


# A batch of pending rows in arrival order, each with its incident's stored JSON (`incident`: NULL when the incident
# is not stored yet) read in the same query; each incident is decoded when its first row is applied, so an incident
# that cannot be read fails only its own rows. Only those this version applies: a record a newer version wrote is
# left for it (bot/adapters/store/unreadable.py).
PENDING_WITH_INCIDENTS = (
    "SELECT b.seq, b.source, b.event_id, b.event_type, b.incident_id, b.body, b.reference, i.data AS incident"
    " FROM (SELECT seq, source, event_id, event_type, incident_id, body, reference FROM inbox"
    f" WHERE state='pending' AND {APPLIED_HERE} ORDER BY seq LIMIT %s) b LEFT JOIN incidents i"
    " ON i.id = b.incident_id ORDER BY b.seq").encode()


class PostgresInbox(PostgresPart, Inbox):
    def __init__(self, connection: PostgresConnection) -> None:
        super().__init__(connection)
        self._deliveries: deque[Delivery] = deque()
        self._flushers: set[asyncio.Task[None]] = set()

    async def record_delivery(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                              incident_id: str | None, occurred_at: str, body: str) -> bool:
        row = (source, delivery_id, event_id, event_type, incident_id, occurred_at, body)
        return (await self._arrive(row, None)).stored

    async def record_deliveries(self, deliveries: Sequence[NewDelivery]) -> list[bool]:
        loop = asyncio.get_running_loop()
        arrived: list[asyncio.Future[Arrival]] = [loop.create_future() for _ in deliveries]
        self._queue([(tuple(row), None, future) for row, future in zip(deliveries, arrived, strict=True)])
        return await all_stored(arrived)

    async def record_and_apply(self, *, source: str, delivery_id: str, event_id: str, event_type: str,
                               incident_id: str | None, occurred_at: str, body: str, decide: Decide,
                               now: float) -> Arrival:
        return await self._arrive((source, delivery_id, event_id, event_type, incident_id, occurred_at, body),
                                  (decide, now))

    async def _arrive(self, row: Row, on_arrival: OnArrival) -> Arrival:
        stored: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
        self._queue([(row, on_arrival, stored)])
        return await stored

    def _queue(self, deliveries: list[Delivery]) -> None:
        """Queue deliveries for a flusher, which takes all those queued at once: one transaction for them."""
        self._connection.refuse_if_closed()  # before anything is queued
        self._deliveries.extend(deliveries)
        if len(self._flushers) < FLUSHERS:
            # The flush runs as a task of its own: a caller that goes away (its client hung up) never strands the
            # deliveries of the others in the batch it would have stored.
            task = asyncio.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)

    async def flushed(self) -> None:
        """Wait until every delivery asked for is stored (or has failed): closing does, first."""
        while self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)

    async def _flush(self) -> None:
        while self._deliveries:
            batch = list(self._deliveries)
            self._deliveries.clear()
            await self._store_batch(batch)

    async def _store_batch(self, batch: list[Delivery]) -> None:
        outcomes: list[Arrival | BaseException]
        try:
            outcomes = list(await self._insert([(row, on_arrival) for row, on_arrival, _ in batch]))
        except Exception as error:
            if len(batch) == 1 or self._connection.unreachable(error):  # (one by one, each would wait as long again)
                outcomes = [error] * len(batch)
            else:
                # One row may be what failed the batch: one by one, only its caller hears of it (5xx: sent again).
                log.warning("a batch of %d deliveries could not be stored together (%s); storing them one by one",
                            len(batch), error.__class__.__name__)
                outcomes = [await self._insert_alone(row) for row, _, _ in batch]
        except BaseException as error:
            # Every caller of the batch hears of it, whatever else goes wrong here; none is left waiting.
            for _, _, future in batch:
                _fail(future, error)
            raise
        for (_, _, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _fail(future, outcome)
            elif not future.done():
                future.set_result(outcome)

    async def _insert(self, deliveries: list[tuple[Row, OnArrival]]) -> list[Arrival]:
        """Store deliveries in one transaction, pipelined, applying those asked to be (see the module's docstring);
        what became of each."""
        applying = any(on_arrival is not None for _, on_arrival in deliveries)
        async with self._transaction() as conn:
            async with conn.pipeline():
                if applying:
                    # In the inserts' round trip: the lock (never waited for), what stored before these is pending
                    # (read before they are stored), and their incidents as stored.
                    asked = [row for row, on_arrival in deliveries if on_arrival is not None]
                    incident_ids = list({str(row[4]) for row in asked if row[4] is not None})
                    loose = any(row[4] is None for row in asked)
                    arrival_lock = await conn.execute(ARRIVAL_LOCK, {"incidents": incident_ids, "loose": loose,
                                                                     "lock": INBOX_LOCK})
                    arrival_state = await conn.execute(ARRIVAL_STATE, {"incidents": incident_ids})
                # One statement for them all (a statement each cost the event loop more than the rest together).
                inserted = await conn.execute(INSERT_DELIVERIES, columns([row for row, _ in deliveries]))
                seqs = _seqs([row for row, _ in deliveries], await inserted.fetchall())
                lock = await arrival_lock.fetchone() if applying else None
                state = await arrival_state.fetchone() if applying else None
            if lock is not None and lock["locked"] and state is not None:
                stored_incidents: dict[str, str | None] = dict.fromkeys(incident_ids)
                stored_incidents.update(state["incidents"])
                held = set(state["held"])
                waiting = Waiting(state["loose"], lambda: bool(state["waiting"]), held.__contains__)
                outcomes = await _apply_arrived(conn, deliveries, seqs, stored_incidents, waiting)
                return [Arrival(stored=True, outcome=outcomes.get(seq)) if seq is not None else DUPLICATE
                        for seq in seqs]
        return [NOT_APPLIED if seq is not None else DUPLICATE for seq in seqs]

    async def _insert_alone(self, row: Row) -> Arrival | Exception:
        try:
            return (await self._insert([(row, None)]))[0]
        except Exception as error:
            return error

    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        # In pipeline mode throughout: BEGIN, the lock and the read go in one round trip, the batch in one more, the
        # COMMIT in a last one. Each round trip is a wait for the event loop's next turn, which under a burst comes
        # after every webhook in flight: the fewer, the more of a burst the applier keeps up with.
        async with self._connection.connection() as conn, conn.pipeline(), conn.transaction():
            await conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (INBOX_LOCK,))
            # Sent with the lock, but run by the server once it holds it: the read's snapshot (READ COMMITTED takes
            # one per statement, as it starts) sees every row an applier before this one applied.
            cursor = await conn.execute(PENDING_WITH_INCIDENTS, (limit,))
            pending = await cursor.fetchall()
            stored_incidents = {r["incident_id"]: r["incident"] for r in pending if r["incident_id"]}
            try:
                # The whole batch at once, pipelined in one SAVEPOINT: a few round trips for hundreds of rows.
                async with conn.pipeline(), conn.transaction():
                    return await self._apply_batch(conn, pending, decide, stored_incidents, now, alone=False)
            except _RowFailed:
                pass  # one row failed: undone with the rest, and the batch is applied again row by row
            except Exception as error:
                if connection_lost(conn, error):
                    raise
            return await self._apply_batch(conn, pending, decide, stored_incidents, now, alone=True)

    async def _apply_batch(self, conn: Connection, pending: list[dict[str, Any]],
                           decide: Callable[[InboxRow, Incident | None], Decision | Skip],
                           stored_incidents: dict[str, str | None], now: float, *, alone: bool) -> list[Decision]:
        """Apply the rows in order. `alone`: each in a SAVEPOINT of its own, a failing row quarantined and the rest
        applied; otherwise the first failure raises `_RowFailed` (the caller undoes the batch and applies it alone)."""
        decisions: list[Decision] = []
        known: dict[str, Incident | None] = {}
        # Batched, the rows applied are marked so by one statement at the end (in the batch's SAVEPOINT, undone with
        # it); alone, each row's mark goes with its own SAVEPOINT.
        applied: list[int] | None = None if alone else []
        # Batched, the decisions' writes are staged and sent as a few statements (decision_writes.py).
        staged = None if alone else StagedWrites()
        turn = time.perf_counter()
        for stored in pending:
            if time.perf_counter() - turn > TURN_SECONDS:
                # Pipelined statements do not wait on the server, so a batch would hold the event loop for all its
                # rows (a quarter of a second for 256): webhooks waiting to be answered get their turn first.
                await asyncio.sleep(0)
                turn = time.perf_counter()
            reference = stored["reference"]
            row = InboxRow(*(stored[k] for k in ("seq", "source", "event_id", "event_type", "incident_id", "body")))
            outcome: Decision | Skip | None
            try:
                if alone:
                    # A SAVEPOINT: this row's writes, undone alone if it fails; pipelined, so that they go to the
                    # server together (one round trip for the row, not one per statement).
                    async with conn.pipeline(), conn.transaction():
                        outcome = await _apply(conn, row, decide, known, stored_incidents, now)
                else:
                    outcome = await _apply(conn, row, decide, known, stored_incidents, now, applied, staged)
            except Exception as error:  # one row, at any step, must not stop the queue
                if connection_lost(conn, error):
                    raise
                if not alone:
                    raise _RowFailed from error
                reference = await _quarantine(conn, row, reference, _reason(error), now)
                log.exception("inbox row %s (%s) could not be applied; set aside as reference %s", row.seq,
                              row.event_type, reference)
                outcome = None
            if isinstance(outcome, Skip) and outcome.state == "failed":
                if staged:  # its alert's queue may hold effects staged before it: they come first
                    await staged.flush(conn)
                reference = await _quarantine(conn, row, reference, outcome.reason, now)
                log.warning("inbox row %s (%s) cannot be read; set aside as reference %s: %s", row.seq,
                            row.event_type, reference, _safe(outcome.reason))
            if isinstance(outcome, Decision):
                if outcome.incident is not None:
                    known[outcome.incident.id] = outcome.incident
                decisions.append(outcome)
        if staged:
            await staged.flush(conn)
        if applied:
            await conn.execute(b"UPDATE inbox SET state='applied' WHERE seq = ANY(%s)", (applied,))
        return decisions

    async def commit_decision(self, inbox_seq: int, decision: Decision, now: float) -> None:
        async with self._transaction() as conn:
            await conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (INBOX_LOCK,))
            await persist_decision(conn, inbox_seq, decision, now)

    async def failed_deliveries(self, limit: int | None = None) -> list[FailedDelivery]:
        rows = await self._query(
            "SELECT reference, received_at, source, event_type, incident_id, error FROM inbox WHERE state='failed'"
            " ORDER BY seq DESC LIMIT %s", (limit,))
        return [FailedDelivery(r["reference"] or "", r["received_at"], r["source"], r["event_type"],
                               r["incident_id"], r["error"] or "") for r in rows]

    async def retry_delivery(self, reference: str) -> bool:
        return await self._execute("UPDATE inbox SET state='pending', error=NULL WHERE state='failed'"
                                   " AND reference=%s", (reference.strip().lower(),)) > 0


class _RowFailed(Exception):
    """A row of a batch applied at once failed: the batch is undone and applied row by row."""


async def _apply(conn: Connection, row: InboxRow, decide: Callable[[InboxRow, Incident | None], Decision | Skip],
                 known: dict[str, Incident | None], stored: dict[str, str | None], now: float,
                 applied: list[int] | None = None, staged: StagedWrites | None = None) -> Decision | Skip:
    """One row: its incident (as the batch left it), the decision, and the decision stored (or `staged`, for the
    caller to flush); raises on any failure. With `applied`, the row's seq is added to it for the caller to mark,
    rather than marked here."""
    if row.incident_id is not None and row.incident_id not in known:
        if row.incident_id in stored:
            data = stored[row.incident_id]
            known[row.incident_id] = incident_from_json(data) if data is not None else None
        else:
            if staged:
                await staged.flush(conn)  # the incident may be among them
            known[row.incident_id] = await load_incident(conn, row.incident_id)
    outcome = decide(row, known.get(row.incident_id) if row.incident_id else None)
    if isinstance(outcome, Skip):
        if outcome.state != "failed":
            await conn.execute(b"UPDATE inbox SET state=%s, error=%s WHERE seq=%s",
                               (outcome.state, _safe(outcome.reason), row.seq))
        return outcome
    if staged is not None:
        await staged.persist(conn, outcome, now)
    else:
        await persist_decision(conn, row.seq, outcome, now, mark_applied=applied is None)
    if applied is not None:
        applied.append(row.seq)
    return outcome


async def _apply_arrived(conn: Connection, deliveries: list[tuple[Row, OnArrival]], seqs: list[int | None],
                         stored: dict[str, str | None], waiting: Waiting) -> dict[int, Decision | Skip]:
    """Apply the rows just stored, in order, pipelined in one SAVEPOINT (as the worker's batch is), but those a row
    pending holds back (`waiting`: one of their incident's stored before them, this transaction's included), which
    stay pending for the worker, as does a row that cannot be decided; the outcome of each row applied. Should
    storing a decision fail, the SAVEPOINT is undone and every row stays pending: failures are rare, so they pay
    for the retry (the worker's, row by row) rather than every row paying a SAVEPOINT of its own. A lost connection
    is raised: the whole transaction fails, and its deliveries are stored again one by one, or fail."""
    outcomes: dict[int, Decision | Skip] = {}
    known: dict[str, Incident | None] = {}
    applied: list[int] = []
    staged = StagedWrites()
    try:
        async with conn.pipeline(), conn.transaction():
            for (values, on_arrival), seq in zip(deliveries, seqs, strict=True):
                if seq is None:
                    continue
                source, _, event_id, event_type, incident_id, _, body = values
                row = InboxRow(seq, str(source), str(event_id), str(event_type),
                               None if incident_id is None else str(incident_id), str(body))
                if on_arrival is None or waiting.holds(row.incident_id):
                    waiting.left(row.incident_id)  # stored only, or held back: it holds back its incident's rows
                    continue
                decide, now = on_arrival
                try:
                    if row.incident_id is not None and row.incident_id not in known:
                        data = stored.get(row.incident_id)
                        known[row.incident_id] = incident_from_json(data) if data is not None else None
                    outcome = decide(row, known.get(row.incident_id) if row.incident_id else None)
                except Exception as error:
                    log.info("inbox row %s (%s) left for the worker: %s", seq, row.event_type,
                             error.__class__.__name__)
                    outcome = Skip("failed", "")
                if isinstance(outcome, Skip):
                    if outcome.state == "failed":
                        waiting.left(row.incident_id)
                        continue
                    await conn.execute(b"UPDATE inbox SET state=%s, error=%s WHERE seq=%s",
                                       (outcome.state, _safe(outcome.reason), seq))
                else:
                    await staged.persist(conn, outcome, now)
                    applied.append(seq)
                    if outcome.incident is not None:
                        known[outcome.incident.id] = outcome.incident
                outcomes[seq] = outcome
            await staged.flush(conn)
            if applied:
                await conn.execute(b"UPDATE inbox SET state='applied' WHERE seq = ANY(%s)", (applied,))
    except Exception as error:
        if connection_lost(conn, error):
            raise
        log.warning("a batch of %d deliveries could not be applied as they arrived (%s); left for the worker",
                    len(deliveries), error.__class__.__name__)
        return {}
    return outcomes


async def _quarantine(conn: Connection, row: InboxRow, reference: str | None, reason: str, now: float) -> str:
    """Mark the row failed with its reason and reference (a new one unless it has one); queue the alert (and DM)."""
    again, reference = reference is not None, reference or uuid.uuid4().hex[:8]  # again: its person was told
    reason = _safe(reason)[:500]
    # A pipeline block of its own (the batch's connection is in pipeline mode): its statements are sent and answered
    # here, so a failure is raised here, never by the next row's statements.
    async with conn.pipeline():
        await conn.execute(b"UPDATE inbox SET state='failed', error=%s, reference=%s WHERE seq=%s",
                           (reason, reference, row.seq))
        for effect in delivery_quarantined(reference, row.source, row.event_type, row.incident_id, reason, row.body,
                                           again=again):
            await insert_effect(conn, effect, 0, now)
    return reference


def _reason(error: BaseException) -> str:
    detail = " ".join(str(error).split())
    return f"{error.__class__.__name__}: {detail}" if detail else error.__class__.__name__


def _safe(text: str) -> str:
    """Text any store can hold: lone surrogates written as escapes, NUL removed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "")


def _seqs(rows: list[Row], inserted: list[dict[str, Any]]) -> list[int | None]:
    """Each delivery's seq, or None for a duplicate (one stored before, or earlier in `rows`): a row stored is the
    first delivery with its source, delivery id and event id."""
    stored = {(r["source"], r["delivery_id"]): (r["event_id"], r["seq"]) for r in inserted}
    seqs: list[int | None] = []
    for source, delivery_id, event_id, *_ in rows:
        event_and_seq = stored.get((source, delivery_id))
        if event_and_seq is not None and event_and_seq[0] == event_id:
            del stored[(source, delivery_id)]  # later deliveries of the same ids are duplicates of this one
            seqs.append(event_and_seq[1])
        else:
            seqs.append(None)
    return seqs


def _fail(future: asyncio.Future[Arrival], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
