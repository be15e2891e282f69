"""Effects waiting to be performed (the Outbox port), in PostgreSQL: queueing them, and recording their outcomes.

Each row belongs to a queue (an outside system and an incident, e.g. `slack:Q1`): within a queue effects run in the
order they were queued. Effects queued by other parts in their own transactions (a decision, a handover claim) go
through `insert_effect`. The SQL is SQLite's (sqlite/outbox.py) in PostgreSQL's dialect: JSON is built with
json_build_object and read with ->>, and a LIKE's % is doubled where the query has parameters. Which effects are due,
their claims and leases, are outbox_claims.py's (`PostgresEffectClaims`, which `PostgresOutbox` extends).

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
from typing import Any

from bot.adapters.store.outbox_sql import CARD_REFRESH_STATES, DEAD_COLUMNS, HAS_TICKET, LAGGING, OPENING_PENDING
from bot.adapters.store.postgres.bookkeeping_sql import (
    MARK_NOTED,
    SAVE_TICKET,
    SET_TIMELINE_TS,
    footprint_update_in_channel,
    footprint_upsert,
    ticket_values,
)
from bot.adapters.store.postgres.connection import Connection
from bot.adapters.store.postgres.outbox_claims import HOLDER, PostgresEffectClaims
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.slack import RefreshCard
from bot.ports.store import CardRefreshState, ClaimedEffects, EffectBookkeeping, Outbox, OutboxRow

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
# A pending effect of the incident (given by the format's `incident`) that will render its card from the state as it
# is when it runs: a refresh nobody holds (never claimed, or let go to be retried), or the channel's opening never
# attempted (a retried opening finds its card already posted and leaves it). A refresh asked for meanwhile is not
# queued: it would show nothing that one does not.
CARD_RENDER_WAITING = (
    "SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.incident_id = {incident} AND ("
    "(o.kind = 'refresh_card' AND o.leased_until IS NULL) OR (o.kind = 'open_incident_channel' AND o.attempts = 0))")
# Parameters: the incident, a channel. Its footprint names that channel (EffectBookkeeping.while_channel). A plain
# read, no row lock: the footprint's row is written last in an outcome, after every queue's lock (see "Lock order").
IN_CHANNEL = b"SELECT 1 FROM incident_slack WHERE incident_id=%s AND channel_id=%s"
INSERT_REFRESH = ("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                  f" SELECT %s, %s, %s, %s, greatest(%s, {SCHEDULED}), %s, %s WHERE NOT EXISTS ("
                  + CARD_RENDER_WAITING.format(incident="%s") + ")").encode()
INSERT_EFFECT = (b"INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                 b" VALUES (%s, %s, %s, %s, %s, %s, %s)")

log = logging.getLogger(__name__)


class PostgresOutbox(PostgresEffectClaims, Outbox):
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
    of_channel = bookkeeping.while_channel
    if done and (of_channel is None or await (await conn.execute(IN_CHANNEL, of_channel)).fetchone() is not None):
        for effect, asked_at in bookkeeping.follow_ups:
            await insert_effect(conn, effect, 1, asked_at)
    if done:
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
        # Learnt of one channel of the incident: written only while its footprint names it (EffectBookkeeping), looked
        # at again by the UPDATE itself on the row as a move committed meanwhile left it. A move committed between
        # IN_CHANNEL's look above and this leaves the follow-ups queued and the pieces unwritten: a ticket sync or a
        # card refresh, harmless, each reading the footprint as the move left it (the new channel's name).
        sql, params = (footprint_update_in_channel(incident_id, of_channel[1], changes)
                       if of_channel is not None and incident_id == of_channel[0]
                       else footprint_upsert(incident_id, changes))
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
