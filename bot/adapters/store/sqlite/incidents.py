"""Incidents as last decided, and their timelines (the Incidents port), in SQLite.

An incident is one row holding its JSON (codec.py) beside the columns queries select on; timeline entries are rows of
their own, with the ts of their Slack message once posted. Writing them is the inbox's business (inbox.py applies
decisions); the helpers it uses for that live here, beside the reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.adapters.store.codec import (
    DecodedIncidents,
    incident_columns,
    incident_from_json,
    incident_to_json,
    report_columns,
    utc_iso,
)
from bot.adapters.store.outbox_sql import DEAD_COLUMNS
from bot.adapters.store.sqlite.connection import SqliteConnection, SqlitePart
from bot.adapters.store.sqlite.known_incidents import KnownIncidents
from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry
from bot.ports.store import Incidents

TIMELINE_ORDER = "ORDER BY occurred_at, rowid"
# An open incident's statuses, listed (not `!= 'resolved'`) so the `incidents_status` index finds them.
OPEN_STATUSES = "('triggered', 'acknowledged')"


class SqliteIncidents(SqlitePart, Incidents):
    def __init__(self, connection: SqliteConnection) -> None:
        super().__init__(connection)
        # The open incidents are read for every App Home published: each is decoded again only when its row changed.
        self._open_decoded = DecodedIncidents()

    async def incident(self, incident_id: str) -> Incident | None:
        return await self._run(lambda: load_incident(self._reader, incident_id, self._connection.known_incidents))

    async def incident_by_number(self, number: int) -> Incident | None:
        def read() -> Incident | None:
            row = self._reader.execute("SELECT data FROM incidents WHERE number=? ORDER BY updated_at DESC LIMIT 1",
                                  (number,)).fetchone()
            return incident_from_json(row[0]) if row else None
        return await self._run(read)

    async def open_incidents(self) -> list[Incident]:
        # Decoded on the store's thread, the only one that touches `_open_decoded`.
        # Long: in a storm, hundreds of open incidents decoded (the answers ready go back before it).
        return await self._run(lambda: self._open_decoded.decode(r[0] for r in self._reader.execute(
            f"SELECT data FROM incidents WHERE status IN {OPEN_STATUSES} ORDER BY number")), long=True)

    async def incidents_open_during(self, service_ids: Sequence[str], since: datetime,
                                    until: datetime) -> list[Incident]:
        if not service_ids:
            return []
        services = ", ".join("?" * len(service_ids))
        # Three index-served reads (INDEXED BY: without statistics SQLite might walk a service's whole history
        # by trigger time instead): triggered in the shift, still open, resolved since its start.
        wanted = (f"SELECT id FROM incidents INDEXED BY incidents_service_triggered WHERE service_id IN ({services})"
                  " AND triggered_at >= ? AND triggered_at < ?"
                  f" UNION SELECT id FROM incidents INDEXED BY incidents_status WHERE status IN {OPEN_STATUSES}"
                  f" AND service_id IN ({services}) AND triggered_at < ?"
                  " UNION SELECT id FROM incidents INDEXED BY incidents_resolved WHERE resolved_at >= ?"
                  f" AND service_id IN ({services}) AND triggered_at < ?")
        start, end = utc_iso(since), utc_iso(until)
        ids = list(service_ids)
        return await self._run(lambda: [incident_from_json(r[0]) for r in self.db.execute(
            f"SELECT data FROM incidents WHERE id IN ({wanted}) ORDER BY triggered_at, number",
            [*ids, start, end, *ids, end, start, *ids, end]).fetchall()], long=True)  # a shift's: may be many

    async def resolved_with_own_channel(self, since: datetime, until: datetime) -> list[tuple[Incident, str]]:
        return await self._run(lambda: [(incident_from_json(r[0]), r[1]) for r in self.db.execute(
            "SELECT i.data, s.channel_id FROM incidents AS i INDEXED BY incidents_resolved"
            " JOIN incident_slack AS s ON s.incident_id = i.id"
            " WHERE i.resolved_at >= ? AND i.resolved_at < ? AND i.status = 'resolved'"
            " AND s.channel_id IS NOT NULL AND NOT s.shared_channel ORDER BY i.resolved_at, i.number",
            (utc_iso(since), utc_iso(until))).fetchall()], long=True)

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        return await self._run(lambda: [entry_from_row(r) for r in self._query(
            f"SELECT * FROM timeline WHERE incident_id=? {TIMELINE_ORDER}", (incident_id,))])

    async def timeline_entry(self, entry_id: str) -> tuple[TimelineEntry, str | None] | None:
        def read() -> tuple[TimelineEntry, str | None] | None:
            rows = self._query("SELECT * FROM timeline WHERE id=?", (entry_id,))
            return (entry_from_row(rows[0]), rows[0]["slack_ts"]) if rows else None
        return await self._run(read)

    async def set_timeline_ts(self, entry_id: str, ts: str) -> None:
        def write() -> None:
            # Light (connection.py): lost with the machine, the retry finds the posted line by its marker.
            with self._transaction(light=True) as conn:
                conn.execute("UPDATE timeline SET slack_ts=? WHERE id=?", (ts, entry_id))
        await self._run(write)

    async def incident_report(self, incident_id: str) -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
        """The timeline and the dead effects of one incident, read together (one trip to the store thread)."""
        def read() -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
            entries = [entry_from_row(r) for r in self._query(
                f"SELECT * FROM timeline WHERE incident_id=? {TIMELINE_ORDER}", (incident_id,))]
            dead = self._query(f"SELECT {DEAD_COLUMNS} FROM outbox WHERE state='dead' AND incident_id=? ORDER BY seq",
                               (incident_id,))
            return entries, dead
        return await self._run(read)


def load_incident(conn: sqlite3.Connection, incident_id: str, known: KnownIncidents | None = None) -> Incident | None:
    """The incident as stored; decoded through `known` (not again when its row is unchanged) when given."""
    row = conn.execute("SELECT data FROM incidents WHERE id=?", (incident_id,)).fetchone()
    if row is None:
        return None
    return known.decode(incident_id, row[0]) if known is not None else incident_from_json(row[0])


def save_incident(conn: sqlite3.Connection, incident: Incident, now: float,
                  known: KnownIncidents | None = None) -> None:
    values = incident_row(incident, now)
    conn.execute(INCIDENT_UPSERT, values)
    if known is not None:
        # Should the caller's transaction be rolled back, the row keeps its old text, which this one does not match.
        known.remember(incident.id, str(values[3]), incident)


# Every write of an incident row writes its indexed columns too (codec.incident_columns, codec.report_columns), so
# they never drift.
INCIDENT_INSERT = ("INSERT INTO incidents (id, number, status, data, updated_at, service_id, urgency, triggered_at,"
                   " acknowledged_at, resolved_at, tta_us, ttr_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INCIDENT_UPSERT = (INCIDENT_INSERT + " ON CONFLICT(id) DO UPDATE SET status=excluded.status, data=excluded.data,"
                   " updated_at=excluded.updated_at, service_id=excluded.service_id, urgency=excluded.urgency,"
                   " triggered_at=excluded.triggered_at, acknowledged_at=excluded.acknowledged_at,"
                   " resolved_at=excluded.resolved_at,"
                   " tta_us=excluded.tta_us, ttr_us=excluded.ttr_us")


def incident_row(incident: Incident, now: float) -> tuple[object, ...]:
    """The values of INCIDENT_INSERT for this incident."""
    return (incident.id, incident.number, incident.status.value, incident_to_json(incident), now,
            *incident_columns(incident), *report_columns(incident))


def insert_entry(conn: sqlite3.Connection, entry: TimelineEntry) -> None:
    """Store a timeline entry; one already stored (same id: the same event delivered again) is kept as it is."""
    conn.execute("INSERT OR IGNORE INTO timeline (id, incident_id, occurred_at, kind, actor, text)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (entry.id, entry.incident_id, entry.occurred_at.isoformat(), entry.kind, entry.actor, entry.text))


def entry_from_row(row: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(id=row["id"], incident_id=row["incident_id"],
                         occurred_at=datetime.fromisoformat(row["occurred_at"]), kind=row["kind"],
                         actor=row["actor"], text=row["text"])
