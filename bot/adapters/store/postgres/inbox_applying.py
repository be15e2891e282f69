"""Applying the inbox's deliveries in arrival order, exactly once (the Inbox port's applying), in PostgreSQL: on
arrival, by the flusher that stored them (inbox.py), and by the worker (`apply_pending`).

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
from collections.abc import Callable
from typing import Any

from bot.adapters.store.arrivals import Waiting
from bot.adapters.store.codec import incident_from_json
from bot.adapters.store.postgres.connection import Connection, PostgresPart, connection_lost
from bot.adapters.store.postgres.decision_writes import StagedWrites, persist_decision
from bot.adapters.store.postgres.incidents import load_incident
from bot.adapters.store.postgres.outbox import insert_effect
from bot.adapters.store.unreadable import APPLIED_HERE
from bot.domain.incident import Decision, Incident
from bot.domain.quarantine import delivery_quarantined
from bot.ports.store import InboxRow, Skip

log = logging.getLogger(__name__)
# The key of the advisory lock an applier holds for its batch ('pavedrd' + 2).
INBOX_LOCK = 0x70617665647264_02
# How long applying a batch holds the event loop before it lets the webhooks in flight have their turn.
TURN_SECONDS = 0.005
Row = tuple[object, ...]
Decide = Callable[[InboxRow, Incident | None], Decision | Skip]
# How to apply a delivery on arrival (the caller's `decide` and `now`), or None to store it only.
OnArrival = tuple[Decide, float] | None

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


class PostgresInboxApplier(PostgresPart):
    """The Inbox port's applying: the worker's batches, and a decision committed alone (see the module's
    docstring)."""

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


async def apply_arrived(conn: Connection, deliveries: list[tuple[Row, OnArrival]], seqs: list[int | None],
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
