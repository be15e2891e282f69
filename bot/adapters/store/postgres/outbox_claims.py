"""Which effects are due, and claiming them, in PostgreSQL (the Outbox port's claims and leases).

Each lane's due effects are the heads of its queues (the first pending effect of each), read through the partial
indexes outbox_due and outbox_next_due (migration d16). The SQL is SQLite's (sqlite/outbox_claims.py) in PostgreSQL's
dialect.

An effect being performed is leased (`lease_owner`, `leased_until`): replicas sharing the database never perform the
same effect at once, and a dead replica's effect is taken over when its lease runs out (see the Outbox port). Each
lease change is one UPDATE whose WHERE says when it may happen, so concurrent callers cannot both succeed. What an
effect's outcome writes, the queueing of effects and the queues' lock order are outbox.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import psycopg

from bot.adapters.store.postgres.connection import PostgresPart
from bot.adapters.store.postgres.footprint import read_incident_in_slack
from bot.adapters.store.unreadable import KNOWN_EFFECT
from bot.domain.effects import LANES
from bot.domain.effects.slack import PostTimelineEntry
from bot.ports.store import ClaimedEffects, IncidentInSlack, OutboxRow

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

log = logging.getLogger(__name__)


class PostgresEffectClaims(PostgresPart):
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
