"""Effects waiting to be performed (the Outbox port), in SQLite: queueing them, and recording their outcomes.

Each row belongs to a queue (an outside system and an incident, e.g. `slack:Q1`): within a queue effects run in the
order they were queued, so ServiceNow being down never holds up the Slack channel and the other way round. Effects
queued by other parts in their own transactions (a decision, a handover claim) go through `insert_effect`. An
effect's outcome is recorded by its lease's holder, with what the effect learnt (its bookkeeping) in the same
transaction. Which effects are due, their claims and leases, are outbox_claims.py's (`SqliteEffectClaims`, which
`SqliteOutbox` extends).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from bot.adapters.store.outbox_sql import CARD_REFRESH_STATES, DEAD_COLUMNS, HAS_TICKET, LAGGING, OPENING_PENDING
from bot.adapters.store.sqlite.bookkeeping_sql import (
    SAVE_TICKET,
    SET_TIMELINE_TS,
    footprint_update_in_channel,
    footprint_upsert,
    mark_noted_sql,
    ticket_values,
)
from bot.adapters.store.sqlite.outbox_claims import HOLDER, SqliteEffectClaims, claim_heads
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.slack import RefreshCard
from bot.ports.store import CardRefreshState, ClaimedEffects, EffectBookkeeping, Outbox, OutboxRow

# Card refreshes and ticket syncs the scheduler queues come after every effect of an event.
SCHEDULED = 2
# A pending effect of the incident (given by the format's `incident`) that will render its card from the state as it
# is when it runs: a refresh nobody holds (never claimed, or let go to be retried), or the channel's opening never
# attempted (a retried opening finds its card already posted and leaves it). A refresh asked for meanwhile is not
# queued: it would show nothing that one does not.
CARD_RENDER_WAITING = (
    "SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.incident_id = {incident} AND ("
    "(o.kind = 'refresh_card' AND o.leased_until IS NULL) OR (o.kind = 'open_incident_channel' AND o.attempts = 0))")
# Parameters: the incident's ServiceNow queue, the incident. Nothing in the queue lags (outbox_sql.LAGGING), and the
# card says "sync pending" (EffectBookkeeping.refresh_card_once_synced).
SYNCED_WITH_CARD_PENDING = (
    f"SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE queue=? AND {LAGGING})"
    " AND EXISTS (SELECT 1 FROM incident_slack WHERE incident_id=? AND sync_pending_shown=1)")
# Parameter: the incident. Its card does not say "sync pending" (yet): a ServiceNow effect just retried must say it.
CARD_NOT_PENDING = "SELECT NOT EXISTS (SELECT 1 FROM incident_slack WHERE incident_id=? AND sync_pending_shown=1)"
# Parameters: the incident, a channel. Its footprint names that channel (EffectBookkeeping.while_channel): in the
# outcome's transaction, which no move to a new channel can write in the middle of (SQLite has one writer at a time).
IN_CHANNEL = "SELECT 1 FROM incident_slack WHERE incident_id=? AND channel_id=?"

log = logging.getLogger(__name__)


class SqliteOutbox(SqliteEffectClaims, Outbox):
    async def effect_done_then_claim(self, seq: int, *, owner: str, bookkeeping: EffectBookkeeping | None,
                                     now: float, room: Mapping[str, int], busy: Sequence[str], lease_seconds: float,
                                     reads: Mapping[str, bool] | None = None
                                     ) -> ClaimedEffects[OutboxRow] | None:
        # effect_done's write with the claim after it, group-committed together: the claim is read under the same
        # write lock (nobody claims in between) and the incidents it reads see what this effect just recorded.
        lanes = [lane for lane, free in room.items() if free > 0]

        def write(conn: sqlite3.Connection) -> ClaimedEffects[OutboxRow] | None:
            done = conn.execute("UPDATE outbox SET state='done', last_error=NULL, lease_owner=NULL, leased_until=NULL"
                                f" WHERE seq=? AND {HOLDER}", (seq, owner, owner)).rowcount == 1
            if not done:  # another replica holds the effect now: its outcome, facts and all, stands
                return None
            record_bookkeeping(conn, bookkeeping, done=True)
            # The claim in a savepoint of its own: its failure (a due row this version cannot decode, an SQL error)
            # rolls back only the claim, and the outcome stands, as on PostgreSQL (where they are two calls).
            conn.execute("SAVEPOINT claim_after_done")
            try:
                claimed = claim_heads(conn, now, lanes, room, busy, owner, now + lease_seconds, self._unreadable)
                claimed = self._with_incidents(claimed, reads) if reads else claimed
            except Exception:
                conn.execute("ROLLBACK TO claim_after_done")
                conn.execute("RELEASE claim_after_done")
                log.warning("effect #%s: done, but the claim after it failed; the dispatcher claims instead", seq,
                            exc_info=True)
                return ClaimedEffects.nothing(room, now)
            conn.execute("RELEASE claim_after_done")
            return claimed
        return await self._connection.group_commit(write)

    async def effect_done(self, seq: int, owner: str | None = None,
                          bookkeeping: EffectBookkeeping | None = None) -> bool:
        # Durable, and group-committed with the other effects finished meanwhile (one fsync for them all); what the
        # effect learnt rides in the same transaction (bot/ports/effect_bookkeeping.py).
        def write(conn: sqlite3.Connection) -> bool:
            done = conn.execute("UPDATE outbox SET state='done', last_error=NULL, lease_owner=NULL, leased_until=NULL"
                                f" WHERE seq=? AND {HOLDER}", (seq, owner, owner)).rowcount == 1
            if done:  # else another replica holds the effect now: its outcome, facts and all, stands
                record_bookkeeping(conn, bookkeeping, done=True)
            return done
        return await self._connection.group_commit(write)

    async def effect_retry(self, seq: int, next_attempt_at: float, error: str, owner: str | None = None,
                           bookkeeping: EffectBookkeeping | None = None, rate_limited_at: float | None = None,
                           failed: bool = False, credentials_refused: bool = False) -> bool:
        refused = int(rate_limited_at is not None)

        def write() -> bool:
            # Light: lost with the machine, the effect is only tried again sooner (and its facts found again).
            with self._transaction(light=True) as conn:
                held = conn.execute(
                    "UPDATE outbox SET next_attempt_at=?, last_error=?, lease_owner=NULL, leased_until=NULL,"
                    " rate_limits=rate_limits+?, credentials_refusals=credentials_refusals+?,"
                    " rate_limited_since=CASE WHEN ? THEN NULL ELSE coalesce(rate_limited_since, ?) END"
                    f" WHERE seq=? AND {HOLDER}",
                    (next_attempt_at, error, refused, int(credentials_refused), int(failed), rate_limited_at, seq,
                     owner, owner)).rowcount == 1
                if held:  # else another replica holds the effect now: its outcome, facts and all, stands
                    record_bookkeeping(conn, bookkeeping, done=False, retried=True)
                return held
        return await self._run(write)

    async def effect_dead(self, seq: int, error: str, alert: AlertOperators | None, now: float,
                          owner: str | None = None, bookkeeping: EffectBookkeeping | None = None) -> bool:
        def write() -> bool:
            with self._transaction() as conn:
                parked = conn.execute("UPDATE outbox SET state='dead', last_error=?, lease_owner=NULL,"
                                      f" leased_until=NULL WHERE seq=? AND {HOLDER}",
                                      (error, seq, owner, owner)).rowcount == 1
                if parked:  # else another replica holds the effect now: its outcome, facts and all, stands
                    record_bookkeeping(conn, bookkeeping, done=False, dead=True)
                    if alert is not None:
                        insert_effect(conn, alert, 0, now)
            return parked
        return await self._run(write)

    async def dead_effects(self, incident_id: str | None = None, *, latest: int | None = None) -> list[dict[str, Any]]:
        where = "state='dead'" + (" AND incident_id=?" if incident_id else "")
        params: tuple[Any, ...] = (incident_id,) if incident_id else ()
        # The most recent `latest` (-1: SQLite's "no limit"), then oldest first again.
        return await self._run(lambda: self._query(
            f"SELECT * FROM (SELECT {DEAD_COLUMNS} FROM outbox WHERE {where} ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (*params, -1 if latest is None else latest)))

    async def pending_in_queue(self, queue: str) -> int:
        return await self._run(lambda: int(self._reader.execute(
            "SELECT count(*) FROM outbox WHERE queue=? AND state='pending'", (queue,)).fetchone()[0]))

    async def queue_effect(self, effect: Effect, now: float, priority: int = 1) -> None:
        await self._connection.group_commit(lambda conn: insert_effect(conn, effect, priority, now))

    async def queue_card_refreshes(self, now: float, only: Sequence[str] | None = None) -> int:
        if only is not None and not only:
            return 0
        chosen = "" if only is None else f" AND i.id IN ({','.join('?' * len(only))})"

        def write() -> int:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                    f" SELECT i.id, 'slack:' || i.id, 'refresh_card', json_object('incident_id', i.id), {SCHEDULED},"
                    " ?, ? FROM incidents i"
                    " WHERE i.status != 'resolved'" + chosen + " AND NOT EXISTS ("
                    + CARD_RENDER_WAITING.format(incident="i.id") + ")", (now, now, *(only or ())))
            return cursor.rowcount
        return await self._run(write, long=True)  # a sweep over every open incident

    async def card_refresh_states(self) -> list[CardRefreshState]:
        return await self._run(lambda: [
            CardRefreshState(r["incident_id"], r["queued_at"], bool(r["pending"]), bool(r["opening"]),
                             bool(r["drawn"]))
            for r in self._query(CARD_REFRESH_STATES)], long=True)  # a read per open incident

    async def queue_ticket_syncs(self, now: float) -> int:
        def write() -> int:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                    " SELECT t.incident_id, 'servicenow:' || t.incident_id, 'sync_ticket',"
                    f" json_object('incident_id', t.incident_id), {SCHEDULED}, ?, ? FROM tickets t"
                    " WHERE EXISTS (SELECT 1 FROM timeline l WHERE l.incident_id = t.incident_id"
                    "   AND l.ticket_noted = 0 AND l.kind NOT LIKE 'servicenow%')"
                    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.queue = 'servicenow:' || t.incident_id"
                    "   AND o.state = 'pending' AND o.kind = 'sync_ticket')", (now, now))
            return cursor.rowcount
        return await self._run(write, long=True)  # a sweep over every ticket


def record_bookkeeping(conn: sqlite3.Connection, bookkeeping: EffectBookkeeping | None, *, done: bool,
                       retried: bool = False, dead: bool = False) -> None:
    """Record the bookkeeping of an effect whose outcome its holder recorded in the caller's transaction (the
    statements the single-piece port methods run): the facts whatever the outcome; the follow-ups only when `done`;
    the card's refresh that a ServiceNow effect's lag asks for when `done`, `retried` or `dead`."""
    if bookkeeping is None:
        return
    of_channel = bookkeeping.while_channel
    for incident_id, changes in bookkeeping.footprints.items():
        if of_channel is not None and incident_id == of_channel[0]:
            # Learnt of that channel: not written once the incident moved to another (EffectBookkeeping).
            conn.execute(*footprint_update_in_channel(incident_id, of_channel[1], changes))
        else:
            conn.execute(*footprint_upsert(incident_id, changes))
    if bookkeeping.timeline_ts:
        conn.executemany(SET_TIMELINE_TS, [(ts, entry_id) for entry_id, ts in bookkeeping.timeline_ts.items()])
    for ticket in bookkeeping.tickets.values():
        conn.execute(SAVE_TICKET, ticket_values(ticket))
    if bookkeeping.noted:
        conn.execute(mark_noted_sql(len(bookkeeping.noted)), bookkeeping.noted)
    if done and (of_channel is None or conn.execute(IN_CHANNEL, of_channel).fetchone() is not None):
        for effect, asked_at in bookkeeping.follow_ups:
            insert_effect(conn, effect, 1, asked_at)
    if done:
        if bookkeeping.refresh_card_for_ticket is not None:
            incident_id, asked_at = bookkeeping.refresh_card_for_ticket
            if not conn.execute(OPENING_PENDING.format(p="?"), (incident_id,)).fetchone()[0]:
                insert_effect(conn, RefreshCard(incident_id), 1, asked_at)
        if bookkeeping.refresh_card_if_ticket is not None:
            incident_id, asked_at = bookkeeping.refresh_card_if_ticket
            if conn.execute(HAS_TICKET.format(p="?"), (incident_id,)).fetchone()[0]:
                insert_effect(conn, RefreshCard(incident_id), 1, asked_at)
        refresh_card_once_synced(conn, bookkeeping)
    elif dead:  # parked, it lags no more: the card must stop saying "sync pending" if nothing else lags
        refresh_card_once_synced(conn, bookkeeping)
    elif retried and bookkeeping.refresh_card_once_synced is not None:
        # ServiceNow failed it: its queue lags now, which the card must say (a refresh coalesced with any waiting).
        incident_id, asked_at = bookkeeping.refresh_card_once_synced
        if conn.execute(CARD_NOT_PENDING, (incident_id,)).fetchone()[0]:
            insert_effect(conn, RefreshCard(incident_id), 1, asked_at)


def refresh_card_once_synced(conn: sqlite3.Connection, bookkeeping: EffectBookkeeping) -> None:
    """A ticket effect's outcome that ends it (done, or dead): refresh the card if it says "sync pending" and nothing
    in the incident's ServiceNow queue lags any more."""
    if bookkeeping.refresh_card_once_synced is not None:
        incident_id, asked_at = bookkeeping.refresh_card_once_synced
        if conn.execute(SYNCED_WITH_CARD_PENDING, (f"servicenow:{incident_id}", incident_id)).fetchone()[0]:
            insert_effect(conn, RefreshCard(incident_id), 1, asked_at)


def insert_effect(conn: sqlite3.Connection, effect: Effect, priority: int, now: float) -> None:
    """Queue an effect inside the caller's transaction, due at once (or as long after as it asks). A card refresh is
    coalesced and yields (see the Outbox port's `queue_effect`)."""
    at = now + effect.due_in_seconds()
    values = (effect.incident_id, effect.queue, effect.kind, json.dumps(effect.payload()), priority, at, at)
    if isinstance(effect, RefreshCard):
        conn.execute("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                     f" SELECT ?, ?, ?, ?, max(?, {SCHEDULED}), ?, ? WHERE NOT EXISTS ("
                     + CARD_RENDER_WAITING.format(incident="?") + ")", (*values, effect.incident_id))
        return
    conn.execute("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?)", values)


def entry_queued(conn: sqlite3.Connection, entry_id: str) -> bool:
    """Whether posting this timeline entry is already pending."""
    return conn.execute("SELECT 1 FROM outbox WHERE kind='post_timeline_entry' AND state='pending'"
                        " AND json_extract(payload, '$.entry_id')=?", (entry_id,)).fetchone() is not None
