"""Effects waiting to be performed (the Outbox port), in SQLite.

Each row belongs to a queue (an outside system and an incident, e.g. `slack:Q1`): within a queue effects run in the
order they were queued, so ServiceNow being down never holds up the Slack channel and the other way round. Effects
queued by other parts in their own transactions (a decision, a handover claim) go through `insert_effect`.

An effect being performed is leased (`lease_owner`, `leased_until`): replicas sharing the file never perform the same
effect at once, and a dead replica's effect is taken over when its lease runs out (see the Outbox port).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.domain.effects import AlertOperators, Effect, effect_from_row
from bot.ports.store import Outbox, OutboxRow

DEAD_COLUMNS = "seq, incident_id, kind, attempts, last_error"
# Card refreshes and ticket syncs the scheduler queues come after every effect of an event.
SCHEDULED = 2
# Not leased to anyone past `now` (the parameter that follows): never claimed, let go, or its holder's lease ran out.
UNLEASED = "({alias}leased_until IS NULL OR {alias}leased_until <= ?) "
# The effect is still pending and, when an owner is given (the next two parameters), still that owner's.
HOLDER = "state='pending' AND (? IS NULL OR lease_owner=?)"


class SqliteOutbox(SqlitePart, Outbox):
    async def due_effects(self, now: float, limit: int, busy: Sequence[str]) -> list[OutboxRow]:
        """The next effect of each queue (in order within a queue), if due and not leased; high urgency first.
        `busy` queues are skipped."""
        def read() -> list[OutboxRow]:
            placeholders = ",".join("?" * len(busy))
            exclude = f"AND o.queue NOT IN ({placeholders})" if busy else ""
            rows = self._query(
                "SELECT o.seq, o.kind, o.payload, o.attempts, o.created_at FROM outbox o"
                " WHERE o.state='pending' AND o.next_attempt_at <= ? AND " + UNLEASED.format(alias="o.") + exclude +
                " AND o.seq = (SELECT min(seq) FROM outbox p WHERE p.queue=o.queue AND p.state='pending')"
                " ORDER BY o.priority, o.seq LIMIT ?", (now, now, *busy, limit))
            return [OutboxRow(r["seq"], effect_from_row(r["kind"], json.loads(r["payload"])), r["attempts"],
                              r["created_at"]) for r in rows]
        return await self._run(read)

    async def next_effect_due_at(self) -> float | None:
        return await self._run(lambda: self.db.execute(
            "SELECT min(max(next_attempt_at, coalesce(leased_until, 0))) FROM outbox WHERE state='pending'"
        ).fetchone()[0])

    async def claim_effect(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        # One UPDATE whose WHERE re-checks everything due_effects saw: SQLite's single writer makes it atomic, so of
        # two replicas claiming the same effect from the same stale read, exactly one changes the row. Light: a
        # claim lost with the machine is only an attempt that is begun again.
        return await self._run(lambda: self._write(
            "UPDATE outbox SET attempts=attempts+1, lease_owner=?, leased_until=? WHERE seq=? AND state='pending'"
            " AND next_attempt_at <= ? AND " + UNLEASED.format(alias="") +
            " AND seq = (SELECT min(seq) FROM outbox p WHERE p.queue=outbox.queue AND p.state='pending')",
            (owner, now + lease_seconds, seq, now, now), light=True))

    async def renew_lease(self, seq: int, *, owner: str, now: float, lease_seconds: float) -> bool:
        return await self._run(lambda: self._write(
            "UPDATE outbox SET leased_until=? WHERE seq=? AND state='pending' AND lease_owner=?",
            (now + lease_seconds, seq, owner), light=True))

    async def release_leases(self, owner: str) -> int:
        def write() -> int:
            with self._transaction() as conn:
                return conn.execute("UPDATE outbox SET lease_owner=NULL, leased_until=NULL WHERE lease_owner=?"
                                    " AND state='pending'", (owner,)).rowcount
        return await self._run(write)

    async def effect_done(self, seq: int, owner: str | None = None) -> bool:
        # Durable, and group-committed with the other effects finished meanwhile (one fsync for them all).
        return await self._connection.group_commit(lambda conn: conn.execute(
            "UPDATE outbox SET state='done', last_error=NULL, lease_owner=NULL, leased_until=NULL"
            f" WHERE seq=? AND {HOLDER}", (seq, owner, owner)).rowcount == 1)

    async def effect_retry(self, seq: int, next_attempt_at: float, error: str, owner: str | None = None) -> bool:
        # Light: lost with the machine, the effect is only tried again sooner.
        return await self._run(lambda: self._write(
            "UPDATE outbox SET next_attempt_at=?, last_error=?, lease_owner=NULL, leased_until=NULL"
            f" WHERE seq=? AND {HOLDER}", (next_attempt_at, error, seq, owner, owner), light=True))

    async def effect_dead(self, seq: int, error: str, alert: AlertOperators | None, now: float,
                          owner: str | None = None) -> bool:
        def write() -> bool:
            with self._transaction() as conn:
                parked = conn.execute("UPDATE outbox SET state='dead', last_error=?, lease_owner=NULL,"
                                      f" leased_until=NULL WHERE seq=? AND {HOLDER}",
                                      (error, seq, owner, owner)).rowcount == 1
                if parked and alert is not None:
                    insert_effect(conn, alert, 0, now)
            return parked
        return await self._run(write)

    def _write(self, sql: str, params: Sequence[Any], light: bool = False) -> bool:
        """One single-statement write; whether it changed a row."""
        with self._transaction(light=light) as conn:
            return conn.execute(sql, params).rowcount == 1

    async def dead_effects(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        where = "state='dead'" + (" AND incident_id=?" if incident_id else "")
        params = (incident_id,) if incident_id else ()
        return await self._run(lambda: self._query(
            f"SELECT {DEAD_COLUMNS} FROM outbox WHERE {where} ORDER BY seq", params))

    async def pending_in_queue(self, queue: str) -> int:
        return await self._run(lambda: int(self.db.execute(
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
                    "   SELECT 1 FROM outbox o WHERE o.incident_id = i.id AND o.state = 'pending'"
                    "   AND o.kind IN ('refresh_card', 'open_incident_channel'))", (now, now, *(only or ())))
            return cursor.rowcount
        return await self._run(write)

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
        return await self._run(write)


def insert_effect(conn: sqlite3.Connection, effect: Effect, priority: int, now: float) -> None:
    """Queue an effect, due at once, inside the caller's transaction."""
    conn.execute("INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (effect.incident_id, effect.queue, effect.kind, json.dumps(effect.payload()), priority, now, now))


def entry_queued(conn: sqlite3.Connection, entry_id: str) -> bool:
    """Whether posting this timeline entry is already pending."""
    return conn.execute("SELECT 1 FROM outbox WHERE kind='post_timeline_entry' AND state='pending'"
                        " AND json_extract(payload, '$.entry_id')=?", (entry_id,)).fetchone() is not None
