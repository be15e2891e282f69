"""A decision's writes in PostgreSQL — its incident, its timeline line, its effects — stored at once
(`persist_decision`), or staged with a whole batch's and sent as a few statements (`StagedWrites`).

Applying a batch of inbox rows (the worker's `apply_pending`, a flusher applying deliveries as they arrive) stores
each decision's incident, timeline line and effects. Sent one statement each, that is five or six statements a
delivery, and under a burst psycopg's work per statement (building, sending and reading back each one, pipelined or
not) was most of the applier's time on the event loop. `StagedWrites` keeps them instead and sends them when flushed:
one upsert of the incidents (each incident's last state only), one insert of the timeline lines, one insert of the
effects (a channel's opening apart, below), each taking its rows as arrays (`unnest … WITH ORDINALITY`, inserted in
the order they were decided, so a queue's effects keep their order and a line its position). The arrays go in binary
(`%b`): in text, psycopg builds each array literal in Python, quoting every element (22 ms against 0.4 ms for 100 rows
of 3 KB documents here).

What the per-decision statements did, these do exactly:
- A card refresh is still coalesced: it is left out when a render of that card is already waiting, stored before
  this statement (the same `NOT EXISTS` as `INSERT_REFRESH`, row by row) or staged earlier in this batch (tracked
  here, as a statement does not see its own rows).
- The outbox's row trigger (`outbox_queued`, which marks a queue's head) sees the rows the same statement inserted
  before (PostgreSQL: a row-level BEFORE trigger sees the effects of rows processed earlier in its command).
- Opening an incident's channel queues the posts of its lines stored before it, which reads the timeline and the
  outbox: the opening and those posts go in one statement of their own, in that order, at once (their rows take
  their places in the queue then; other queues' staged effects coming after them changes no queue's order). Should
  lines of that incident or effects of its queue be staged, the posts must see them and follow them: everything
  staged is sent first (a note that beat its trigger within the batch).

The caller flushes in the batch's transaction (its SAVEPOINT): a failure fails the batch, which is then applied row by
row, as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.adapters.store.postgres.connection import Connection
from bot.adapters.store.postgres.incidents import INCIDENT_UPSERT_COLUMNS, incident_row, insert_entry, save_incident
from bot.adapters.store.postgres.outbox import CARD_RENDER_WAITING, SCHEDULED, insert_effect
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry, RefreshCard
from bot.domain.incident import Decision, Incident

UPSERT_INCIDENTS = (
    "INSERT INTO incidents (id, number, status, data, updated_at, service_id, urgency, triggered_at, acknowledged_at,"
    " resolved_at, tta_us, ttr_us) SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::text[],"
    " %b::float8[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[])"
    " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in INCIDENT_UPSERT_COLUMNS)).encode()
# A line already stored (the same event delivered again) is kept as it is, as insert_entry does.
INSERT_ENTRIES = (b"INSERT INTO timeline (id, incident_id, occurred_at, kind, actor, text)"
                  b" SELECT id, incident_id, occurred_at, kind, actor, text FROM unnest(%b::text[], %b::text[],"
                  b" %b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY"
                  b" AS e(id, incident_id, occurred_at, kind, actor, text, n) ORDER BY n ON CONFLICT (id) DO NOTHING")
# Refreshes yield to the rest (priority at least SCHEDULED) and are left out while a render of their card waits.
INSERT_EFFECTS = (
    "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
    " SELECT e.incident_id, e.queue, e.kind, e.payload, CASE WHEN e.kind = 'refresh_card'"
    f" THEN greatest(e.priority, {SCHEDULED}) ELSE e.priority END, e.at, e.at"
    " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::int[], %b::float8[]) WITH ORDINALITY"
    " AS e(incident_id, queue, kind, payload, priority, at, n)"
    " WHERE e.kind != 'refresh_card' OR NOT EXISTS (" + CARD_RENDER_WAITING.format(incident="e.incident_id")
    + ") ORDER BY e.n").encode()
# The posts owed for an incident's lines never posted (stored before its channel existed) and not already queued, but
# the one left out, as rows of the outbox with their order (named parameters: queue, priority, now, incident,
# leave_out). The lines were stored before the channel was asked for, so their posts follow its opening in its queue.
UNPOSTED_POSTS = (
    "SELECT t.incident_id, %(queue)s::text AS queue, 'post_timeline_entry'::text AS kind, json_build_object("
    "'incident_id', t.incident_id, 'entry_id', t.id)::text AS payload, %(priority)s::int AS priority,"
    " %(now)s::float8 AS at, t.occurred_at, t.pos FROM timeline t"
    " WHERE t.incident_id = %(incident)s AND t.slack_ts IS NULL AND t.id != %(leave_out)s AND NOT EXISTS ("
    "SELECT 1 FROM outbox o WHERE o.state = 'pending' AND o.incident_id = t.incident_id"
    " AND o.kind = 'post_timeline_entry' AND o.payload::jsonb ->> 'entry_id' = t.id)")
INSERT_OUTBOX = "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
# One statement that needs no answer: pipelined with the rest of a batch, it costs no round trip of its own. The rows
# are inserted in the SELECT's order, so their seq (their order in the queue) follows it.
QUEUE_UNPOSTED = (f"{INSERT_OUTBOX} SELECT incident_id, queue, kind, payload, priority, at, at"
                  f" FROM ({UNPOSTED_POSTS}) p ORDER BY occurred_at, pos").encode()
# The channel's opening (an effect with the same named parameters, and kind and payload), then those posts behind it.
OPEN_CHANNEL_THEN_UNPOSTED = (
    f"{INSERT_OUTBOX} SELECT incident_id, queue, kind, payload, priority, at, at FROM ("
    "SELECT %(incident)s::text AS incident_id, %(queue)s::text AS queue, %(kind)s::text AS kind, %(payload)s::text"
    " AS payload, %(priority)s::int AS priority, %(now)s::float8 AS at, ''::text AS occurred_at, 0::bigint AS pos,"
    f" 0 AS k UNION ALL SELECT p.*, 1 FROM ({UNPOSTED_POSTS}) p) r ORDER BY k, occurred_at, pos").encode()
Values = tuple[object, ...]


async def queue_unposted_entries(conn: Connection, incident_id: str, leave_out: str, priority: int,
                                 now: float) -> None:
    """Queue a post of each of the incident's timeline lines never posted (stored before its channel existed) and
    not already queued, but `leave_out`, in the order they happened, inside the caller's transaction."""
    await conn.execute(QUEUE_UNPOSTED, _unposted(incident_id, leave_out, priority, now))


def _unposted(incident_id: str, leave_out: str, priority: int, now: float) -> dict[str, object]:
    return {"queue": PostTimelineEntry(incident_id, "").queue, "priority": priority, "now": now,
            "incident": incident_id, "leave_out": leave_out}


async def persist_decision(conn: Connection, inbox_seq: int, decision: Decision, now: float, *,
                           mark_applied: bool = True) -> None:
    """Store a decision at once, a statement per write (a row applied alone, or a decision committed on its own);
    with `mark_applied`, its inbox row marked applied."""
    incident = decision.incident
    if incident is not None:
        await save_incident(conn, incident, now)
    if decision.entry is not None:
        await insert_entry(conn, decision.entry)
    priority = _priority(incident)
    for effect in decision.effects:
        await insert_effect(conn, effect, priority, now)
        if isinstance(effect, OpenIncidentChannel):
            # Entries stored before the incident was known (a note that beat the first incident event here)
            # were never posted: post them once the channel exists, in the order they happened.
            await queue_unposted_entries(conn, effect.incident_id, decision.entry.id if decision.entry else "",
                                         priority, now)
    if mark_applied:
        await conn.execute(b"UPDATE inbox SET state='applied' WHERE seq=%s", (inbox_seq,))


class StagedWrites:
    """The writes of a batch's decisions, kept until `flush` sends them (one statement per table)."""

    def __init__(self) -> None:
        self._incidents: dict[str, Values] = {}
        self._entries: list[Values] = []
        self._effects: list[Values] = []
        # Incidents whose card has a render staged in this batch (a refresh, or the channel's opening).
        self._renders: set[str] = set()
        # What is staged and not yet sent: the incidents with lines, the queues with effects.
        self._with_lines: set[str] = set()
        self._queues: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._incidents or self._entries or self._effects)

    async def persist(self, conn: Connection, decision: Decision, now: float) -> None:
        """Stage a decision's writes (what `persist_decision` stores at once); flushes first where a read needs them."""
        incident = decision.incident
        if incident is not None:
            self._incidents[incident.id] = incident_row(incident, now)
        entry = decision.entry
        priority = _priority(incident)
        for effect in decision.effects:
            if isinstance(effect, RefreshCard | OpenIncidentChannel):
                if isinstance(effect, RefreshCard) and effect.incident_id in self._renders:
                    continue  # coalesced into the render staged before it
                self._renders.add(effect.incident_id)
            at = now + effect.due_in_seconds()
            values = (effect.incident_id, effect.queue, effect.kind, json.dumps(effect.payload()), priority, at)
            if isinstance(effect, OpenIncidentChannel):
                await self._open_channel(conn, effect, values, entry.id if entry else "", priority, now)
            else:
                self._effects.append(values)
                self._queues.add(effect.queue)
        # The decision's own line after its effects: the posts queued with a channel's opening leave it out anyway.
        if entry is not None:
            self._entries.append((entry.id, entry.incident_id, entry.occurred_at.isoformat(), entry.kind,
                                  entry.actor, entry.text))
            self._with_lines.add(entry.incident_id)

    async def _open_channel(self, conn: Connection, effect: OpenIncidentChannel, values: Values, leave_out: str,
                            priority: int, now: float) -> None:
        """The channel's opening and the posts of the lines stored before it, in that order in its queue: one
        statement, unless lines of the incident or effects of its queue are staged (the posts must see them, and
        follow them): then everything staged is sent first."""
        if effect.incident_id in self._with_lines or effect.queue in self._queues:
            self._effects.append(values)
            await self.flush(conn)
            await queue_unposted_entries(conn, effect.incident_id, leave_out, priority, now)
            return
        await conn.execute(OPEN_CHANNEL_THEN_UNPOSTED, {**_unposted(effect.incident_id, leave_out, priority, now),
                                                        "kind": effect.kind, "payload": values[3]})

    async def flush(self, conn: Connection) -> None:
        """Send what is staged, in the caller's transaction: incidents, then lines, then effects."""
        if self._incidents:
            await conn.execute(UPSERT_INCIDENTS, columns(list(self._incidents.values()), 12))
            self._incidents.clear()
        if self._entries:
            await conn.execute(INSERT_ENTRIES, columns(self._entries, 6))
            self._entries.clear()
            self._with_lines.clear()
        if self._effects:
            await conn.execute(INSERT_EFFECTS, columns(self._effects, 6))
            self._effects.clear()
            self._queues.clear()


def _priority(incident: Incident | None) -> int:
    """High urgency and P1 first (DESIGN.md); everything else after them."""
    return 0 if incident is None or incident.urgency == "high" or incident.priority == "P1" else 1


def columns(rows: Sequence[Values], width: int | None = None) -> list[list[object]]:
    """Rows as one list per column: the arrays `unnest` takes (`width` columns when there is no row)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width or 0)]
