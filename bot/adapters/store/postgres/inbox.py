"""Deliveries stored before they are answered, then applied in arrival order (the Inbox port), in PostgreSQL.

Recording is group-committed, as in SQLite: deliveries that arrive while earlier ones are being stored wait in a
queue, and each flusher (at most `FLUSHERS` at a time, each on a connection of the pool) commits everything waiting
in one transaction, stored by one statement (one round trip, one WAL flush for the batch). No caller is answered
before its row is committed. A batch that fails is stored again a row at a time (pending), so only a row that cannot
be stored fails (its caller answers 503) — unless the database is unreachable: then all its callers hear so at once.

Applying them — on arrival (`record_and_apply`: the flusher applies the rows it has just stored when it gets the
appliers' lock at once) and by the worker (`apply_pending`), in arrival order and exactly once across replicas — is
inbox_applying.py's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from bot.adapters.store.arrivals import Waiting, all_stored
from bot.adapters.store.postgres.connection import PostgresConnection
from bot.adapters.store.postgres.decision_writes import columns
from bot.adapters.store.postgres.inbox_applying import (
    ARRIVAL_LOCK,
    ARRIVAL_STATE,
    INBOX_LOCK,
    Decide,
    OnArrival,
    PostgresInboxApplier,
    Row,
    apply_arrived,
)
from bot.ports.store import Arrival, FailedDelivery, Inbox, NewDelivery

log = logging.getLogger(__name__)
# Deliveries stored at once: a few transactions in flight keep the disk busy without starving the other work.
FLUSHERS = 4
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


class PostgresInbox(PostgresInboxApplier, Inbox):
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
        """Store deliveries in one transaction, pipelined, applying those asked to be (see inbox_applying.py's
        docstring); what became of each."""
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
                outcomes = await apply_arrived(conn, deliveries, seqs, stored_incidents, waiting)
                return [Arrival(stored=True, outcome=outcomes.get(seq)) if seq is not None else DUPLICATE
                        for seq in seqs]
        return [NOT_APPLIED if seq is not None else DUPLICATE for seq in seqs]

    async def _insert_alone(self, row: Row) -> Arrival | Exception:
        try:
            return (await self._insert([(row, None)]))[0]
        except Exception as error:
            return error

    async def failed_deliveries(self, limit: int | None = None) -> list[FailedDelivery]:
        rows = await self._query(
            "SELECT reference, received_at, source, event_type, incident_id, error FROM inbox WHERE state='failed'"
            " ORDER BY seq DESC LIMIT %s", (limit,))
        return [FailedDelivery(r["reference"] or "", r["received_at"], r["source"], r["event_type"],
                               r["incident_id"], r["error"] or "") for r in rows]

    async def retry_delivery(self, reference: str) -> bool:
        return await self._execute("UPDATE inbox SET state='pending', error=NULL WHERE state='failed'"
                                   " AND reference=%s", (reference.strip().lower(),)) > 0


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
