"""Which effects are due, and claiming them, in SQLite (the Outbox port's claims and leases).

Each lane's due effects are the heads of its queues (the first pending effect of each), read through the partial
indexes outbox_due and outbox_next_due (migration d16). An effect being performed is leased (`lease_owner`,
`leased_until`): replicas sharing the file never perform the same effect at once, and a dead replica's effect is taken
over when its lease runs out (see the Outbox port). What an effect's outcome writes, and the queueing of effects, are
outbox.py's.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.footprint import read_incident_in_slack
from bot.adapters.store.unreadable import KNOWN_EFFECT_CASE, UnreadableEffects
from bot.domain.effects import LANES
from bot.domain.effects.slack import PostTimelineEntry
from bot.ports.store import ClaimedEffects, OutboxRow

# Not leased to anyone past `now` (the parameter that follows): never claimed, let go, or its holder's lease ran out.
UNLEASED = "({alias}leased_until IS NULL OR {alias}leased_until <= ?) "
# The effect is still pending and, when an owner is given (the next two parameters), still that owner's.
HOLDER = "state='pending' AND (? IS NULL OR lease_owner=?)"
# The heads of one lane's queues (the lane is the parameter): what the partial indexes outbox_due and outbox_next_due
# hold (migration d16), so the WHERE must say the index's own condition. Of those, the ones this version can read
# (bot/adapters/store/unreadable.py): a filter on the index's rows, which leaves the plan as it was.
DUE_HEADS = f"lane = ? AND state = 'pending' AND head = 1 AND {KNOWN_EFFECT_CASE}"
DUE_COLUMNS = ("seq, kind, payload, attempts, created_at, priority, rate_limits, rate_limited_since,"
               " credentials_refusals, lease_owner IS NOT NULL")  # the last: leased still, its lease ran out
# When a head may run: when it is due, or (leased) when its lease ends. The expression outbox_next_due indexes.
NEXT_DUE = "max(next_attempt_at, coalesce(leased_until, 0))"


def _not_in(seqs: int) -> str:
    """Leaves out `seqs` effects (the parameters, in its place): those this replica found it cannot read."""
    return f" AND seq NOT IN ({','.join('?' * seqs)})" if seqs else ""


@functools.lru_cache(maxsize=256)
def next_due_sql(unreadable: int = 0) -> str:
    """Parameters: the lane, then the `unreadable` seqs left out. The first head due (or free) in it."""
    return (f"SELECT {NEXT_DUE} FROM outbox INDEXED BY outbox_next_due WHERE {DUE_HEADS}{_not_in(unreadable)}"
            f" ORDER BY {NEXT_DUE} LIMIT 1")


NEXT_DUE_SQL = next_due_sql()

log = logging.getLogger(__name__)


def next_due_of(conn: sqlite3.Connection, lanes: Sequence[str],
                unreadable: Sequence[int] = ()) -> dict[str, float | None]:
    """Per lane, next_due_sql's answer: one statement for them all (a scalar subquery per lane, each its index's
    first entry), the `unreadable` effects left out."""
    if not lanes:
        return {}
    row = conn.execute(_next_due_of_sql(len(lanes), len(unreadable)),
                       tuple(value for lane in lanes for value in (lane, *unreadable))).fetchone()
    return dict(zip(lanes, row, strict=True))


@functools.lru_cache(maxsize=256)
def _next_due_of_sql(lanes: int, unreadable: int) -> str:
    return "SELECT " + ", ".join(f"({next_due_sql(unreadable)})" for _ in range(lanes))


BUSY_CASE_AT_MOST = 32  # up to this many busy queues are left out by a CASE (see _not_busy); past it, by a list


def _not_busy(busy: int) -> str:
    """Leaves out `busy` queues (the parameters, in its place): a CASE, as KNOWN_EFFECT_CASE (`NOT IN (a list)` builds
    a b-tree of the list on every run), unless so many that its comparisons for each head read would cost more."""
    if not busy:
        return ""
    if busy <= BUSY_CASE_AT_MOST:
        return " AND CASE queue " + "WHEN ? THEN 0 " * busy + "ELSE 1 END"
    return f" AND queue NOT IN ({','.join('?' * busy)})"


def due_effects_sql(busy: int, unreadable: int = 0) -> str:
    """One lane's due heads, most urgent first (parameters: the lane, now, now, `busy` queues, the `unreadable`
    seqs left out, the limit). INDEXED BY holds the plan to the partial index whatever the statistics say (its WHERE
    must imply the index's)."""
    return (f"SELECT {DUE_COLUMNS} FROM outbox INDEXED BY outbox_due WHERE {DUE_HEADS} AND next_attempt_at <= ?"
            f" AND {UNLEASED.format(alias='')}{_not_busy(busy)}{_not_in(unreadable)} ORDER BY priority, seq LIMIT ?")


@functools.lru_cache(maxsize=256)
def due_heads_sql(lanes: int, busy: int, unreadable: int = 0) -> str:
    """`due_effects_sql` for `lanes` lanes in one run: each lane's parameters in turn, each row led by its lane's place.
    Cached, so the same str each time: sqlite3 finds its prepared statement by the text, hashed once per str."""
    one = due_effects_sql(busy, unreadable)
    return " UNION ALL ".join(f"SELECT {place}, * FROM ({one})" for place in range(lanes))


class SqliteEffectClaims(SqlitePart):
    @property
    def _unreadable(self) -> UnreadableEffects:
        return self._connection.unreadable_effects

    async def due_effects(self, now: float, limit: int, busy: Sequence[str],
                          lane: str | None = None) -> list[OutboxRow]:
        """The next effect of each queue (in order within a queue), if due and not leased; high urgency first.
        `busy` queues are skipped. Served by `outbox_due`: per lane, the queues' heads in priority order, read
        until `limit` are found (effects waiting behind a head are never read)."""
        def read() -> list[OutboxRow]:
            lanes = (lane,) if lane else LANES
            rows = [row for found in _due(self._reader, now, lanes, dict.fromkeys(lanes, limit), busy,
                                          self._unreadable).values() for row in found]
            rows.sort(key=lambda r: (r[5], r[0]))
            return _readable(rows[:limit], self._unreadable)
        return await self._run(read)

    async def next_effect_due_at(self, lanes: Sequence[str] | None = None) -> float | None:
        """Served by `outbox_next_due`: per lane, the head due first (or whose lease ends first)."""
        def read() -> float | None:
            times = next_due_of(self._reader, lanes if lanes is not None else LANES, self._unreadable.seqs).values()
            return min((time for time in times if time is not None), default=None)
        return await self._run(read)

    async def claim_effect(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        # One UPDATE re-checking all due_effects saw: SQLite's single writer makes it atomic (of two replicas claiming
        # from one stale read, one changes the row). Light: a claim lost with the machine is an attempt begun again.
        return await self._run(lambda: self._write(
            "UPDATE outbox SET attempts=attempts+1, lease_owner=?, leased_until=? WHERE seq=? AND state='pending'"
            " AND next_attempt_at <= ? AND " + UNLEASED.format(alias="") +
            " AND seq = (SELECT min(seq) FROM outbox p WHERE p.queue=outbox.queue AND p.state='pending')",
            (owner, now + lease_seconds, seq, now, now), light=True))

    async def claim_due_effects(self, now: float, room: Mapping[str, int], busy: Sequence[str], *, owner: str,
                                lease_seconds: float, reads: Mapping[str, bool] | None = None
                                ) -> ClaimedEffects[OutboxRow]:
        lanes = [lane for lane, free in room.items() if free > 0]

        def claim() -> ClaimedEffects[OutboxRow]:
            if self._unreadable.due_for_pruning:
                skipped = self._unreadable.seqs
                self._unreadable.keep_only(row[0] for row in self._reader.execute(
                    f"SELECT seq FROM outbox WHERE state = 'pending' AND seq IN ({','.join('?' * len(skipped))})",
                    skipped))
            # A look without the write lock first: the dispatcher asks on every wake-up, mostly finding nothing due.
            if not any(_due(self._reader, now, lanes, room, busy, self._unreadable).values()):
                return ClaimedEffects({lane: [] for lane in lanes},
                                      next_due_of(self._reader, lanes, self._unreadable.seqs))
            # Light, as a claim alone is: lost with the machine, an attempt is only begun again. Read again under
            # the write lock (BEGIN IMMEDIATE): what it finds no other replica can claim before this commits, so the
            # claims need none of claim_effect's re-checks.
            with self._transaction(light=True) as conn:
                claimed = claim_heads(conn, now, lanes, room, busy, owner, now + lease_seconds, self._unreadable)
            if reads:  # after the claim's commit (a read snapshot of its own), on this same trip
                claimed = self._with_incidents(claimed, reads)
            return claimed
        return await self._run(claim) if lanes else ClaimedEffects()

    def _with_incidents(self, claimed: ClaimedEffects[OutboxRow],
                        reads: Mapping[str, bool]) -> ClaimedEffects[OutboxRow]:
        return ClaimedEffects({lane: [self._with_incident(row, reads) for row in rows]
                               for lane, rows in claimed.items()}, claimed.next_due)

    def _with_incident(self, row: OutboxRow, reads: Mapping[str, bool]) -> OutboxRow:
        with_ticket = reads.get(row.effect.kind)
        if with_ticket is None:
            return row
        entry_id = row.effect.entry_id if isinstance(row.effect, PostTimelineEntry) else None
        try:
            found = read_incident_in_slack(self._connection, row.effect.incident_id, with_ticket, entry_id)
        except Exception:  # e.g. a row this version cannot decode: its effect reads it and fails on its own
            log.warning("claim: effect #%s's incident %s could not be read with the claim; the effect reads it itself",
                        row.seq, row.effect.incident_id, exc_info=True)
            return row
        return replace(row, found=found)

    async def renew_lease(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        return await self._run(lambda: self._write(
            "UPDATE outbox SET leased_until=? WHERE seq=? AND state='pending' AND lease_owner=?",
            (now + lease_seconds, seq, owner), light=True))

    async def release_leases(self, owner: str, keep: Sequence[int] = ()) -> int:
        return await self._run(lambda: self._leases_ended(owner, keep, "lease_owner=NULL, leased_until=NULL"))

    async def lapse_leases(self, owner: str) -> int:
        return await self._run(lambda: self._leases_ended(owner, (), "leased_until=NULL"))

    def _leases_ended(self, owner: str, keep: Sequence[int], change: str) -> int:
        with self._transaction() as conn:
            return conn.execute(f"UPDATE outbox SET {change} WHERE lease_owner=? AND leased_until IS NOT NULL"
                                f" AND state='pending'{_not_in(len(keep))}", (owner, *keep)).rowcount

    def _write(self, sql: str, params: Sequence[Any], light: bool = False) -> bool:  # whether it changed a row
        with self._transaction(light=light) as conn:
            return conn.execute(sql, params).rowcount == 1


def _due(conn: sqlite3.Connection, now: float, lanes: Sequence[str], room: Mapping[str, int],
         busy: Sequence[str], unreadable: UnreadableEffects) -> dict[str, list[Any]]:
    """Per lane, its due heads up to its room (DUE_COLUMNS' rows, most urgent first), unreadable ones left out."""
    skipped = unreadable.seqs
    found: dict[str, list[Any]] = {lane: [] for lane in lanes}
    if not lanes:
        return found
    values = [value for lane in lanes for value in (lane, now, now, *busy, *skipped, room[lane])]
    for place, *row in conn.execute(due_heads_sql(len(lanes), len(busy), len(skipped)), values):
        found[lanes[place]].append(row)
    for rows in found.values():  # each lane's in its own statement's order, whatever the compound's
        rows.sort(key=lambda r: (r[5], r[0]))
    return found


def claim_heads(conn: sqlite3.Connection, now: float, lanes: Sequence[str], room: Mapping[str, int],
                busy: Sequence[str], owner: str, leased_until: float,
                unreadable: UnreadableEffects) -> ClaimedEffects[OutboxRow]:
    """Claim the due heads of `lanes` in the caller's write transaction (its write lock: nobody claims them
    meanwhile); with, per lane, when its next head is due after the claim (the claimed ones by their new leases).
    A head this replica cannot read is not claimed: left pending, as it was, for one that can."""
    heads = {lane: _readable(rows, unreadable) for lane, rows in _due(conn, now, lanes, room, busy,
                                                                      unreadable).items()}
    seqs = [row.seq for rows in heads.values() for row in rows]
    if seqs:
        conn.execute(f"UPDATE outbox SET attempts=attempts+1, lease_owner=?, leased_until=? WHERE seq IN"
                     f" ({','.join('?' * len(seqs))})", (owner, leased_until, *seqs))
    return ClaimedEffects(heads, next_due_of(conn, lanes, unreadable.seqs))


def _readable(rows: Sequence[Any], unreadable: UnreadableEffects) -> list[OutboxRow]:
    """OutboxRows from DUE_COLUMNS' columns; those this version cannot read left out (and remembered)."""
    return [OutboxRow(seq, effect, attempts, created_at, rate_limits=rate_limits, rate_limited_since=since,
                      credentials_refusals=credentials, cut_short=bool(lapsed))
            for seq, kind, payload, attempts, created_at, _, rate_limits, since, credentials, lapsed in rows
            if (effect := unreadable.decode(seq, kind, payload)) is not None]
