"""Incidents as last decided, and their timelines (the Incidents port), in PostgreSQL.

An incident is one row holding its JSON (codec.py, as in SQLite) beside the columns queries select on; timeline
entries are rows of their own, with the ts of their Slack message once posted, and `pos` keeping the stored order
among equal times. Writing them is the inbox's business (inbox.py applies decisions); the helpers it uses for that
live here, beside the reads.
"""

from __future__ import annotations

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
from bot.adapters.store.postgres.connection import Connection, PostgresConnection, PostgresPart
from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry
from bot.ports.store import Incidents

TIMELINE_ORDER = "ORDER BY occurred_at, pos"
# An open incident's statuses, listed (not `!= 'resolved'`) so the `incidents_status` index finds them.
OPEN_STATUSES = "('triggered', 'acknowledged')"


class PostgresIncidents(PostgresPart, Incidents):
    def __init__(self, connection: PostgresConnection) -> None:
        super().__init__(connection)
        # The open incidents are read for every App Home published: each is decoded again only when its row changed.
        self._open_decoded = DecodedIncidents()

    async def incident(self, incident_id: str) -> Incident | None:
        data = await self._value("SELECT data FROM incidents WHERE id=%s", (incident_id,))
        return incident_from_json(data) if data else None

    async def incident_by_number(self, number: int) -> Incident | None:
        data = await self._value("SELECT data FROM incidents WHERE number=%s ORDER BY updated_at DESC LIMIT 1",
                                 (number,))
        return incident_from_json(data) if data else None

    async def open_incidents(self) -> list[Incident]:
        return self._open_decoded.decode(r["data"] for r in await self._query(
            f"SELECT data FROM incidents WHERE status IN {OPEN_STATUSES} ORDER BY number"))

    async def incidents_open_during(self, service_ids: Sequence[str], since: datetime,
                                    until: datetime) -> list[Incident]:
        if not service_ids:
            return []
        # Three index-served reads: triggered in the shift, still open, resolved since its start.
        wanted = ("SELECT id FROM incidents WHERE service_id = ANY(%s) AND triggered_at >= %s AND triggered_at < %s"
                  f" UNION SELECT id FROM incidents WHERE status IN {OPEN_STATUSES}"
                  " AND service_id = ANY(%s) AND triggered_at < %s"
                  " UNION SELECT id FROM incidents WHERE resolved_at >= %s AND service_id = ANY(%s)"
                  " AND triggered_at < %s")
        services, start, end = list(service_ids), utc_iso(since), utc_iso(until)
        return [incident_from_json(r["data"]) for r in await self._query(
            f"SELECT data FROM incidents WHERE id IN ({wanted}) ORDER BY triggered_at, number",
            (services, start, end, services, end, start, services, end))]

    async def resolved_with_own_channel(self, since: datetime, until: datetime) -> list[tuple[Incident, str]]:
        return [(incident_from_json(r["data"]), r["channel_id"]) for r in await self._query(
            "SELECT i.data, s.channel_id FROM incidents AS i JOIN incident_slack AS s ON s.incident_id = i.id"
            " WHERE i.resolved_at >= %s AND i.resolved_at < %s AND i.status = 'resolved'"
            " AND s.channel_id IS NOT NULL AND s.shared_channel = 0 ORDER BY i.resolved_at, i.number",
            (utc_iso(since), utc_iso(until)))]

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        return [entry_from_row(r) for r in await self._query(
            f"SELECT * FROM timeline WHERE incident_id=%s {TIMELINE_ORDER}", (incident_id,))]

    async def timeline_entry(self, entry_id: str) -> tuple[TimelineEntry, str | None] | None:
        rows = await self._query("SELECT * FROM timeline WHERE id=%s", (entry_id,))
        return (entry_from_row(rows[0]), rows[0]["slack_ts"]) if rows else None

    async def set_timeline_ts(self, entry_id: str, ts: str) -> None:
        await self._execute("UPDATE timeline SET slack_ts=%s WHERE id=%s", (ts, entry_id))

    async def incident_report(self, incident_id: str) -> tuple[list[TimelineEntry], list[dict[str, Any]]]:
        """The timeline and the dead effects of one incident, read together (one snapshot)."""
        async with self._transaction() as conn:
            await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor = await conn.execute(f"SELECT * FROM timeline WHERE incident_id=%s {TIMELINE_ORDER}".encode(),
                                        (incident_id,))
            entries = [entry_from_row(r) for r in await cursor.fetchall()]
            cursor = await conn.execute(f"SELECT {DEAD_COLUMNS} FROM outbox WHERE state='dead' AND incident_id=%s"
                                        " ORDER BY seq".encode(), (incident_id,))
            dead = await cursor.fetchall()
        return entries, dead


async def load_incident(conn: Connection, incident_id: str) -> Incident | None:
    cursor = await conn.execute(b"SELECT data FROM incidents WHERE id=%s", (incident_id,))
    row = await cursor.fetchone()
    return incident_from_json(row["data"]) if row else None


async def save_incident(conn: Connection, incident: Incident, now: float) -> None:
    await conn.execute(INCIDENT_UPSERT, incident_row(incident, now))


# Every write of an incident row writes its indexed columns too (codec.incident_columns, codec.report_columns), so
# they never drift.
INCIDENT_INSERT = (b"INSERT INTO incidents (id, number, status, data, updated_at, service_id, urgency, triggered_at,"
                   b" acknowledged_at, resolved_at, tta_us, ttr_us) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                   b" %s)")
# The columns an upsert of the row sets (all but its id and number).
INCIDENT_UPSERT_COLUMNS = ("status", "data", "updated_at", "service_id", "urgency", "triggered_at", "acknowledged_at",
                           "resolved_at", "tta_us", "ttr_us")
INCIDENT_UPSERT = INCIDENT_INSERT + b" ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{column}=excluded.{column}" for column in INCIDENT_UPSERT_COLUMNS).encode()


def incident_row(incident: Incident, now: float) -> tuple[object, ...]:
    """The values of INCIDENT_INSERT for this incident."""
    return (incident.id, incident.number, incident.status.value, incident_to_json(incident), now,
            *incident_columns(incident), *report_columns(incident))


async def insert_entry(conn: Connection, entry: TimelineEntry) -> None:
    """Store a timeline entry; one already stored (same id: the same event delivered again) is kept as it is."""
    await conn.execute(b"INSERT INTO timeline (id, incident_id, occurred_at, kind, actor, text)"
                       b" VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                       (entry.id, entry.incident_id, entry.occurred_at.isoformat(), entry.kind, entry.actor,
                        entry.text))


def entry_from_row(row: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(id=row["id"], incident_id=row["incident_id"],
                         occurred_at=datetime.fromisoformat(row["occurred_at"]), kind=row["kind"],
                         actor=row["actor"], text=row["text"])
