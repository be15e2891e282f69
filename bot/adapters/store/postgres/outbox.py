"""Effects waiting to be performed (the Outbox port), in PostgreSQL.

Each row belongs to a queue (an outside system and an incident, e.g. `slack:Q1`): within a queue effects run in the
order they were queued. Effects queued by other parts in their own transactions (a decision, a handover claim) go
through `insert_effect`. The SQL is SQLite's (sqlite/outbox.py) in PostgreSQL's dialect: JSON is built with
json_build_object and read with ->>, and a LIKE's % is doubled where the query has parameters.

An effect being performed is leased (`lease_owner`, `leased_until`): replicas sharing the database never perform the
same effect at once, and a dead replica's effect is taken over when its lease runs out (see the Outbox port). Each
lease change is one UPDATE whose WHERE says when it may happen, so concurrent callers cannot both succeed.

Lock order. Each queue's writes take that queue's advisory lock (the triggers of migration 15), so a transaction
writing several queues holds several locks, in the order it writes them; two such transactions writing two queues in
opposite orders would deadlock, and PostgreSQL would abort one (an inbox batch applied row by row, a row quarantined
for nothing; a scheduled job lost). So every writer of several queues — the inbox applier, the card refreshes and
ticket syncs the scheduler queues, a dead effect with its operators' alert — first takes `QUEUES_LOCK`, the inbox
applier's own lock: at most one of them holds queue locks at a time. Every other writer writes a single queue and,
holding its lock, waits for no other.

But one incident's outcome — a ticket effect's, or a channel opening's, whose bookkeeping may refresh that incident's
card — takes `QUEUES_LOCK` shared: it writes its own queue, then at most that incident's Slack queue, always in that
order (a Slack effect's own queue is that one), so two of them never wait for each other's queue in opposite orders,
and they need not wait for each other at all (in a storm of tickets they queued behind one another, each holding the
lock for its commit). Shared, it still excludes the applier and the other writers of several queues, which take the
lock alone, and a request for it waits behind one of theirs already waiting (the applier is not starved).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import psycopg

from bot.adapters.store.outbox_sql import CARD_REFRESH_STATES, DEAD_COLUMNS, HAS_TICKET, LAGGING, OPENING_PENDING
from bot.adapters.store.postgres.bookkeeping_sql import (
    MARK_NOTED,
    SAVE_TICKET,
    SET_TIMELINE_TS,
    footprint_upsert,
    ticket_values,
)
from bot.adapters.store.postgres.connection import Connection, PostgresPart
from bot.adapters.store.postgres.footprint import read_incident_in_slack
from bot.adapters.store.unreadable import KNOWN_EFFECT
from bot.domain.effects import LANES, AlertOperators, Effect, PostTimelineEntry, RefreshCard
from bot.ports.store import (
    CardRefreshState,
    ClaimedEffects,
    EffectBookkeeping,
    IncidentInSlack,
    Outbox,
    OutboxRow,
)

# The lock of the outbox's writers of several queues (the inbox applier's INBOX_LOCK, held for its batch anyway): taken
# before any queue's lock, so that no two of them ever hold queue locks at once (see the module's docstring).
QUEUES_LOCK = 0x70617665647264_02
TAKE_QUEUES_LOCK = f"SELECT pg_advisory_xact_lock({QUEUES_LOCK})".encode()
# Taken by one incident's outcome that may refresh its card (see the module's docstring).
SHARE_QUEUES_LOCK = f"SELECT pg_advisory_xact_lock_shared({QUEUES_LOCK})".encode()
# Card refreshes and ticket syncs the scheduler queues come after every effect of an event.
SCHEDULED = 2
# Parameters: the incident's ServiceNow queue, the incident. Nothing in the queue lags (outbox_sql.LAGGING), and the
# card says "sync pending" (EffectBookkeeping.refresh_card_once_synced).
SYNCED_WITH_CARD_PENDING = (
    f"SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE queue=%s AND {LAGGING})"
    " AND EXISTS (SELECT 1 FROM incident_slack WHERE incident_id=%s AND sync_pending_shown=1) AS synced").encode()
# Parameter: the incident's Slack queue: its lock (migration 15's), so that an opened ticket's look at the channel's
# opening waits for an opening's outcome under way, whose own look at the ticket then sees it (or the other way round);
# and a ticket outcome's look for a card refresh waiting sees one such an outcome queued.
TAKE_QUEUE_LOCK = b"SELECT pg_advisory_xact_lock(1869, hashtext(%s))"
OPENING_PENDING_SQL = OPENING_PENDING.format(p="%s").encode()
HAS_TICKET_SQL = HAS_TICKET.format(p="%s").encode()
# Parameter: the incident. Its card does not say "sync pending" (yet): a ServiceNow effect just retried must say it.
CARD_NOT_PENDING = (b"SELECT NOT EXISTS (SELECT 1 FROM incident_slack WHERE incident_id=%s AND sync_pending_shown=1)"
                    b" AS clear")
# Not leased to anyone past `now` (the parameter that follows): never claimed, let go, or its holder's lease ran out.
UNLEASED = "({alias}leased_until IS NULL OR {alias}leased_until <= %s) "
# The effect is still pending and, when an owner is given (the next two parameters), still that owner's.
HOLDER = "state='pending' AND (%s::text IS NULL OR lease_owner=%s)"
# The heads of one lane's queues (the lane is the parameter): what the partial indexes outbox_due and outbox_next_due
# hold (migration d16), so the WHERE must say the index's own condition. Of those, the ones this version can read
# (bot/adapters/store/unreadable.py): the known kinds, and not the seqs (the parameter after the lane, a list) of those
# this replica found it cannot read — filters on the index's rows, which leave the plan as it was.
DUE_HEADS = f"lane = %s AND state = 'pending' AND head = 1 AND {KNOWN_EFFECT} AND NOT (seq = ANY(%s))"
DUE_COLUMNS = ("seq, kind, payload, attempts, created_at, priority, rate_limits, rate_limited_since,"
               " credentials_refusals, lease_owner IS NOT NULL AS cut_short")  # leased still: its lease ran out
# When a head may run: when it is due, or (leased) when its lease ends. The expression outbox_next_due indexes.
NEXT_DUE = "greatest(next_attempt_at, coalesce(leased_until, 0))"
# Parameters: the lane, the unreadable seqs. The first head due (or free) in it.
NEXT_DUE_SQL = f"SELECT {NEXT_DUE} FROM outbox WHERE {DUE_HEADS} ORDER BY {NEXT_DUE} LIMIT 1"


def next_due_sql(lanes: int) -> str:
    """NEXT_DUE_SQL for several lanes in one statement (a scalar subquery per lane; parameters: each lane with the
    unreadable seqs)."""
    return "SELECT " + ", ".join(f"({NEXT_DUE_SQL}) AS lane{n}" for n in range(lanes))
# One lane's due heads, most urgent first (parameters: the lane, the unreadable seqs as a list, now, now, the busy
# queues as a list, the limit).
DUE_EFFECTS_SQL = (f"SELECT {DUE_COLUMNS} FROM outbox WHERE {DUE_HEADS} AND next_attempt_at <= %s"
                   f" AND {UNLEASED.format(alias='')} AND NOT (queue = ANY(%s)) ORDER BY priority, seq LIMIT %s")
# A pending effect of the incident (given by the format's `incident`) that will render its card from the state as it
# is when it runs: a refresh nobody holds (never claimed, or let go to be retried), or the channel's opening never
# attempted (a retried opening finds its card already posted and leaves it). A refresh asked for meanwhile is not
# queued: it would show nothing that one does not.
CARD_RENDER_WAITING = (
    "SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.incident_id = {incident} AND ("
    "(o.kind = 'refresh_card' AND o.leased_until IS NULL) OR (o.kind = 'open_incident_channel' AND o.attempts = 0))")
INSERT_REFRESH = ("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                  f" SELECT %s, %s, %s, %s, greatest(%s, {SCHEDULED}), %s, %s WHERE NOT EXISTS ("
                  + CARD_RENDER_WAITING.format(incident="%s") + ")").encode()
INSERT_EFFECT = (b"INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                 b" VALUES (%s, %s, %s, %s, %s, %s, %s)")

log = logging.getLogger(__name__)


class PostgresOutbox(PostgresPart, Outbox):
    async def due_effects(self, now: float, limit: int, busy: Sequence[str],
                          lane: str | None = None) -> list[OutboxRow]:
        """The next effect of each queue (in order within a queue), if due and not leased; high urgency first.
        `busy` queues are skipped. Served by `outbox_due`: per lane, the queues' heads in priority order, read
        until `limit` are found (effects waiting behind a head are never read)."""
        rows: list[dict[str, Any]] = []
        for one in (lane,) if lane else LANES:
            rows += await self._query(DUE_EFFECTS_SQL, (one, self._skipped(), now, now, list(busy), limit))
        rows.sort(key=lambda r: (r["priority"], r["seq"]))
        # One this version cannot read is left out, unclaimed, for a replica that can (and left out of the next reads).
        return [OutboxRow(r["seq"], effect, r["attempts"], r["created_at"], rate_limits=r["rate_limits"],
                          rate_limited_since=r["rate_limited_since"], credentials_refusals=r["credentials_refusals"],
                          cut_short=r["cut_short"])
                for r in rows[:limit]
                if (effect := self._connection.unreadable_effects.decode(r["seq"], r["kind"], r["payload"]))
                is not None]

    def _skipped(self) -> list[int]:
        return list(self._connection.unreadable_effects.seqs)

    async def next_effect_due_at(self, lanes: Sequence[str] | None = None) -> float | None:
        """Served by `outbox_next_due`: per lane, the head due first (or whose lease ends first)."""
        times = []
        for one in lanes if lanes is not None else LANES:
            value = await self._value(NEXT_DUE_SQL, (one, self._skipped()))
            if value is not None:
                times.append(float(value))
        return min(times, default=None)

    async def claim_effect(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        # One UPDATE whose WHERE re-checks everything due_effects saw. Under READ COMMITTED a second claimer of the
        # same row waits for the first one's commit, then re-evaluates the WHERE on the row as committed: the lease
        # is there now, so exactly one claim changes the row.
        return await self._execute(
            "UPDATE outbox SET attempts=attempts+1, lease_owner=%s, leased_until=%s WHERE seq=%s"
            " AND state='pending' AND next_attempt_at <= %s AND " + UNLEASED.format(alias="") +
            " AND seq = (SELECT min(seq) FROM outbox p WHERE p.queue=outbox.queue AND p.state='pending')",
            (owner, now + lease_seconds, seq, now, now)) == 1

    async def claim_due_effects(self, now: float, room: Mapping[str, int], busy: Sequence[str], *, owner: str,
                                lease_seconds: float, reads: Mapping[str, bool] | None = None
                                ) -> ClaimedEffects[OutboxRow]:
        # The due heads, then each claimed by claim_effect's own UPDATE (autocommitted one by one: claims of several
        # rows in one transaction could take their row locks in opposite orders on two replicas). A row another
        # replica claimed in between fails its claim and is left out.
        if self._connection.unreadable_effects.due_for_pruning:
            self._connection.unreadable_effects.keep_only(row["seq"] for row in await self._query(
                "SELECT seq FROM outbox WHERE state = 'pending' AND seq = ANY(%s)", (self._skipped(),)))
        claimed: dict[str, list[OutboxRow]] = {}
        for lane, free in room.items():
            if free <= 0:
                continue
            claimed[lane] = [row for row in await self.due_effects(now, free, busy, lane=lane)
                             if await self.claim_effect(row.seq, owner=owner, now=now, lease_seconds=lease_seconds)]
        next_due = await self._next_due(list(claimed))
        wanted = [row for rows in claimed.values() for row in rows if reads and row.effect.kind in reads]
        if not wanted or not reads:
            return ClaimedEffects(claimed, next_due)
        found: dict[int, IncidentInSlack] = {}
        # What an effect starts from is a help, not the claim: an effect whose read fails (a row this version cannot
        # decode, the connection dropped) reads it itself, and fails on its own, not with every effect claimed here.
        try:
            async with self._transaction() as conn:  # one connection of the pool for all the reads
                for row in wanted:
                    entry_id = row.effect.entry_id if isinstance(row.effect, PostTimelineEntry) else None
                    try:
                        found[row.seq] = await read_incident_in_slack(conn, row.effect.incident_id,
                                                                      reads[row.effect.kind], entry_id)
                    except psycopg.Error:
                        raise  # the transaction is spoilt: the reads stop here
                    except Exception:
                        log.warning("claim: effect #%s's incident %s could not be read with the claim; the effect "
                                    "reads it itself", row.seq, row.effect.incident_id, exc_info=True)
        except psycopg.Error:
            log.warning("claim: the claimed effects' incidents could not be read with the claim; each effect reads "
                        "its own", exc_info=True)
        return ClaimedEffects({lane: [replace(row, found=found.get(row.seq)) for row in rows]
                               for lane, rows in claimed.items()}, next_due)

    async def _next_due(self, lanes: Sequence[str]) -> dict[str, float | None]:
        """Per lane, when its next head is due (or its lease ends), after the claims: one statement for them all."""
        if not lanes:
            return {}
        skipped = self._skipped()
        [row] = await self._query(next_due_sql(len(lanes)), tuple(value for lane in lanes for value in (lane, skipped)))
        return {lane: None if value is None else float(value) for lane, value in zip(lanes, row.values(), strict=True)}

    async def renew_lease(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        return await self._execute(
            "UPDATE outbox SET leased_until=%s WHERE seq=%s AND state='pending' AND lease_owner=%s",
            (now + lease_seconds, seq, owner)) == 1

    async def release_leases(self, owner: str, keep: Sequence[int] = ()) -> int:
        return await self._execute("UPDATE outbox SET lease_owner=NULL, leased_until=NULL WHERE lease_owner=%s"
                                   " AND state='pending' AND seq <> ALL(%s)", (owner, list(keep)))

    async def lapse_leases(self, owner: str) -> int:
        return await self._execute("UPDATE outbox SET leased_until=NULL WHERE lease_owner=%s"
                                   " AND leased_until IS NOT NULL AND state='pending'", (owner,))

    async def effect_done(self, seq: int, owner: str | None = None,
                          bookkeeping: EffectBookkeeping | None = None) -> bool:
        if not bookkeeping:
            return await self._execute(
                "UPDATE outbox SET state='done', last_error=NULL, lease_owner=NULL, leased_until=NULL"
                f" WHERE seq=%s AND {HOLDER}", (seq, owner, owner)) == 1
        # What the effect learnt rides in the same transaction (bot/ports/effect_bookkeeping.py).
        async with self._transaction() as conn:
            if bookkeeping.follow_ups or bookkeeping.card_refreshes:  # other queues (see "Lock order")
                await conn.execute(queues_lock(bookkeeping))
            cursor = await conn.execute((
                "UPDATE outbox SET state='done', last_error=NULL, lease_owner=NULL, leased_until=NULL"
                f" WHERE seq=%s AND {HOLDER}").encode(), (seq, owner, owner))
            done = cursor.rowcount == 1
            if done:  # else another replica holds the effect now: its outcome, facts and all, stands
                await record_bookkeeping(conn, bookkeeping, done=True)
        return done

    async def effect_done_then_claim(self, seq: int, *, owner: str, bookkeeping: EffectBookkeeping | None,
                                     now: float, room: Mapping[str, int], busy: Sequence[str], lease_seconds: float,
                                     reads: Mapping[str, bool] | None = None
                                     ) -> ClaimedEffects[OutboxRow] | None:
        # Two calls here: the claim's UPDATEs are autocommitted one by one (see claim_due_effects), never in the
        # outcome's transaction, whose queue lock they must not wait behind. What another replica claims in between
        # is left out, as in any claim.
        if not await self.effect_done(seq, owner=owner, bookkeeping=bookkeeping):
            return None
        try:
            return await self.claim_due_effects(now, room, busy, owner=owner, lease_seconds=lease_seconds,
                                                reads=reads)
        except Exception:  # the outcome stands (an SQL error, a due row this version cannot decode): the claim is
            # the dispatcher's loop's to make, at once
            log.warning("effect #%s: done, but the claim after it failed; the dispatcher claims instead", seq,
                        exc_info=True)
            return ClaimedEffects.nothing(room, now)

    async def effect_retry(self, seq: int, next_attempt_at: float, error: str, owner: str | None = None,
                           bookkeeping: EffectBookkeeping | None = None, rate_limited_at: float | None = None,
                           failed: bool = False, credentials_refused: bool = False) -> bool:
        retry = ("UPDATE outbox SET next_attempt_at=%s, last_error=%s, lease_owner=NULL, leased_until=NULL,"
                 " rate_limits=rate_limits+%s, credentials_refusals=credentials_refusals+%s,"
                 " rate_limited_since=CASE WHEN %s THEN NULL"
                 " ELSE coalesce(rate_limited_since, %s::double precision) END"
                 f" WHERE seq=%s AND {HOLDER}")
        params = (next_attempt_at, error, int(rate_limited_at is not None), int(credentials_refused), failed,
                  rate_limited_at, seq, owner, owner)
        if bookkeeping is None or not (bookkeeping.facts or bookkeeping.refresh_card_once_synced):
            return await self._execute(retry, params) == 1
        async with self._transaction() as conn:
            if bookkeeping.refresh_card_once_synced:  # the card's queue too (see "Lock order")
                await conn.execute(queues_lock(bookkeeping))
            cursor = await conn.execute(retry.encode(), params)
            held = cursor.rowcount == 1
            if held:  # else another replica holds the effect now: its outcome, facts and all, stands
                await record_bookkeeping(conn, bookkeeping, done=False, retried=True)
            return held

    async def effect_dead(self, seq: int, error: str, alert: AlertOperators | None, now: float,
                          owner: str | None = None, bookkeeping: EffectBookkeeping | None = None) -> bool:
        async with self._transaction() as conn:
            # Two queues: the effect's, then the operators' or the card's (see "Lock order" above).
            if alert is not None:
                await conn.execute(TAKE_QUEUES_LOCK)
            elif bookkeeping is not None and bookkeeping.refresh_card_once_synced:
                await conn.execute(queues_lock(bookkeeping))
            cursor = await conn.execute((
                "UPDATE outbox SET state='dead', last_error=%s, lease_owner=NULL, leased_until=NULL"
                f" WHERE seq=%s AND {HOLDER}").encode(), (error, seq, owner, owner))
            parked = cursor.rowcount == 1
            if parked and alert is not None:  # the operators' queue before the facts' rows (see "Lock order")
                await insert_effect(conn, alert, 0, now)
            if parked:  # else another replica holds the effect now: its outcome, facts and all, stands
                await record_bookkeeping(conn, bookkeeping, done=False, dead=True)
        return parked

    async def dead_effects(self, incident_id: str | None = None, *, latest: int | None = None) -> list[dict[str, Any]]:
        where = "state='dead'" + (" AND incident_id=%s" if incident_id else "")
        params: list[Any] = [incident_id] if incident_id else []
        # The most recent `latest` (LIMIT NULL: no limit), then oldest first again.
        return await self._query(f"SELECT * FROM (SELECT {DEAD_COLUMNS} FROM outbox WHERE {where} ORDER BY seq DESC"
                                 " LIMIT %s) AS latest ORDER BY seq", [*params, latest])

    async def pending_in_queue(self, queue: str) -> int:
        return int(await self._value("SELECT count(*) FROM outbox WHERE queue=%s AND state='pending'", (queue,)))

    async def queue_effect(self, effect: Effect, now: float, priority: int = 1) -> None:
        async with self._transaction() as conn:
            await insert_effect(conn, effect, priority, now)

    async def queue_card_refreshes(self, now: float, only: Sequence[str] | None = None) -> int:
        if only is not None and not only:
            return 0
        chosen = "" if only is None else " AND i.id = ANY(%s)"
        params: list[Any] = [now, now] + ([] if only is None else [list(only)])
        async with self._transaction() as conn:
            await conn.execute(TAKE_QUEUES_LOCK)  # a queue per incident (see "Lock order" above)
            cursor = await conn.execute((
                "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                " SELECT i.id, 'slack:' || i.id, 'refresh_card', json_build_object('incident_id', i.id)::text,"
                f" {SCHEDULED}, %s, %s FROM incidents i"
                " WHERE i.status != 'resolved'" + chosen + " AND NOT EXISTS ("
                + CARD_RENDER_WAITING.format(incident="i.id") + ")").encode(), params)
            return cursor.rowcount

    async def card_refresh_states(self) -> list[CardRefreshState]:
        return [CardRefreshState(r["incident_id"], r["queued_at"], bool(r["pending"]), bool(r["opening"]),
                             bool(r["drawn"]))
                for r in await self._query(CARD_REFRESH_STATES)]

    async def queue_ticket_syncs(self, now: float) -> int:
        async with self._transaction() as conn:
            await conn.execute(TAKE_QUEUES_LOCK)  # a queue per ticket (see "Lock order" above)
            cursor = await conn.execute((
                "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                " SELECT t.incident_id, 'servicenow:' || t.incident_id, 'sync_ticket',"
                f" json_build_object('incident_id', t.incident_id)::text, {SCHEDULED}, %s, %s FROM tickets t"
                " WHERE EXISTS (SELECT 1 FROM timeline l WHERE l.incident_id = t.incident_id"
                "   AND l.ticket_noted = 0 AND l.kind NOT LIKE 'servicenow%%')"
                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.queue = 'servicenow:' || t.incident_id"
                "   AND o.state = 'pending' AND o.kind = 'sync_ticket')").encode(), (now, now))
            return cursor.rowcount


def queues_lock(bookkeeping: EffectBookkeeping) -> bytes:
    """How an outcome whose bookkeeping writes other queues takes `QUEUES_LOCK`: shared when those are one incident's
    card refreshes (its Slack queue, written after the effect's own), alone otherwise (follow-ups may be any queue's:
    see the module's docstring)."""
    refreshed = {asked[0] for asked in (bookkeeping.refresh_card_once_synced, bookkeeping.refresh_card_for_ticket,
                                        bookkeeping.refresh_card_if_ticket) if asked is not None}
    return SHARE_QUEUES_LOCK if not bookkeeping.follow_ups and len(refreshed) == 1 else TAKE_QUEUES_LOCK


async def record_bookkeeping(conn: Connection, bookkeeping: EffectBookkeeping | None, *, done: bool,
                             retried: bool = False, dead: bool = False) -> None:
    """Record the bookkeeping of an effect whose outcome its holder recorded in the caller's transaction (the
    statements the single-piece port methods run): the facts whatever the outcome; the follow-ups only when `done`;
    the card's refresh that a ServiceNow effect's lag asks for when `done`, `retried` or `dead`."""
    if bookkeeping is None:
        return
    # The follow-ups first: inserting into another queue takes that queue's lock (its trigger), and every writer
    # takes queue locks before row locks — a sync's outcome marking lines told (their rows) and then queueing the
    # card's refresh (the Slack queue) crossed a posted line's outcome (the Slack queue, then that line's row): a
    # deadlock (found in review of session 6).
    if done:
        for effect, asked_at in bookkeeping.follow_ups:
            await insert_effect(conn, effect, 1, asked_at)
        await refresh_card_once_synced(conn, bookkeeping)
        if bookkeeping.refresh_card_for_ticket is not None:
            incident_id, asked_at = bookkeeping.refresh_card_for_ticket
            await conn.execute(TAKE_QUEUE_LOCK, (f"slack:{incident_id}",))
            cursor = await conn.execute(OPENING_PENDING_SQL, (incident_id,))
            row = await cursor.fetchone()
            if row is not None and not row["waiting"]:
                await insert_effect(conn, RefreshCard(incident_id), 1, asked_at)
        if bookkeeping.refresh_card_if_ticket is not None:  # its queue's lock is held: its own done took it
            incident_id, asked_at = bookkeeping.refresh_card_if_ticket
            cursor = await conn.execute(HAS_TICKET_SQL, (incident_id,))
            row = await cursor.fetchone()
            if row is not None and row["opened"]:
                await insert_effect(conn, RefreshCard(incident_id), 1, asked_at)
    elif dead:  # parked, it lags no more: the card must stop saying "sync pending" if nothing else lags
        await refresh_card_once_synced(conn, bookkeeping)
    elif retried and bookkeeping.refresh_card_once_synced is not None:
        # ServiceNow failed it: its queue lags now, which the card must say (a refresh coalesced with any waiting).
        incident_id, asked_at = bookkeeping.refresh_card_once_synced
        await conn.execute(TAKE_QUEUE_LOCK, (f"slack:{incident_id}",))  # see refresh_card_once_synced
        cursor = await conn.execute(CARD_NOT_PENDING, (incident_id,))
        row = await cursor.fetchone()
        if row is not None and row["clear"]:
            await insert_effect(conn, RefreshCard(incident_id), 1, asked_at)
    for incident_id, changes in bookkeeping.footprints.items():
        sql, params = footprint_upsert(incident_id, changes)
        await conn.execute(sql.encode(), params)
    for entry_id, ts in bookkeeping.timeline_ts.items():
        await conn.execute(SET_TIMELINE_TS.encode(), (ts, entry_id))
    for ticket in bookkeeping.tickets.values():
        await conn.execute(SAVE_TICKET.encode(), ticket_values(ticket))
    if bookkeeping.noted:
        await conn.execute(MARK_NOTED.encode(), (list(bookkeeping.noted),))


async def refresh_card_once_synced(conn: Connection, bookkeeping: EffectBookkeeping) -> None:
    """A ticket effect's outcome that ends it (done, or dead): refresh the card if it says "sync pending" and nothing
    in the incident's ServiceNow queue lags any more."""
    if bookkeeping.refresh_card_once_synced is not None:
        incident_id, asked_at = bookkeeping.refresh_card_once_synced
        # The card's queue first: what is read next (a refresh waiting, the card's state) is then as the outcomes
        # of that queue under way leave it — they share QUEUES_LOCK with this one (see "Lock order"), and a refresh
        # one of them queued must be seen, not queued again beside it.
        await conn.execute(TAKE_QUEUE_LOCK, (f"slack:{incident_id}",))
        cursor = await conn.execute(SYNCED_WITH_CARD_PENDING, (f"servicenow:{incident_id}", incident_id))
        row = await cursor.fetchone()
        if row is not None and row["synced"]:
            await insert_effect(conn, RefreshCard(incident_id), 1, asked_at)


async def insert_effect(conn: Connection, effect: Effect, priority: int, now: float) -> None:
    """Queue an effect inside the caller's transaction, due at once (or as long after as it asks). A card refresh is
    coalesced and yields (see the Outbox port's `queue_effect`)."""
    at = now + effect.due_in_seconds()
    values = (effect.incident_id, effect.queue, effect.kind, json.dumps(effect.payload()), priority, at, at)
    if isinstance(effect, RefreshCard):
        await conn.execute(INSERT_REFRESH, (*values, effect.incident_id))
        return
    await conn.execute(INSERT_EFFECT, values)

