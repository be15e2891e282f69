"""What exists in Slack for each incident (the SlackFootprints port), in SQLite: one row per incident, written piece
by piece (an upsert of only the pieces given, in a light transaction: see connection.py), with the lists of invited
and unreachable people as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Unpack

from bot.adapters.store.outbox_sql import TICKET_QUEUE_LAGGING
from bot.adapters.store.sqlite.bookkeeping_sql import footprint_upsert
from bot.adapters.store.sqlite.connection import SqliteConnection, SqlitePart
from bot.adapters.store.sqlite.incidents import entry_from_row, load_incident
from bot.ports.store import FootprintChange, IncidentInSlack, SlackFootprint, SlackFootprints, TicketRow

CHUNK = 500
TICKET_QUEUE_LAGGING_SQL = TICKET_QUEUE_LAGGING.format(p="?")


class SqliteFootprints(SqlitePart, SlackFootprints):
    async def footprint(self, incident_id: str) -> SlackFootprint:
        def read() -> SlackFootprint:
            rows = self._query("SELECT * FROM incident_slack WHERE incident_id=?", (incident_id,))
            return _footprint(rows[0]) if rows else SlackFootprint(incident_id)
        return await self._run(read)

    async def incident_in_slack(self, incident_id: str, *, with_ticket: bool = False) -> IncidentInSlack:
        return await self._run(lambda: read_incident_in_slack(self._connection, incident_id, with_ticket))

    async def update_footprint(self, incident_id: str, **changes: Unpack[FootprintChange]) -> None:
        sql, params = footprint_upsert(incident_id, changes)

        def write() -> None:
            # Light: a piece lost with the machine is found again in Slack (the executors look before they create).
            with self._transaction(light=True) as conn:
                conn.execute(sql, params)
        await self._run(write)

    async def footprint_by_channel(self, channel_id: str) -> SlackFootprint | None:
        def read() -> SlackFootprint | None:
            rows = self._query("SELECT * FROM incident_slack WHERE channel_id=?", (channel_id,))
            return _footprint(rows[0]) if rows else None
        return await self._run(read)

    async def channels_of(self, incident_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(incident_ids))

        def read() -> dict[str, str]:
            found: dict[str, str] = {}
            for first in range(0, len(ids), CHUNK):  # within SQLite's limit on bound values, in one trip
                chunk = ids[first:first + CHUNK]
                found.update((r[0], r[1]) for r in self._reader.execute(
                    f"SELECT incident_id, channel_id FROM incident_slack WHERE incident_id IN"
                    f" ({', '.join('?' * len(chunk))}) AND channel_id IS NOT NULL", chunk).fetchall())
            return found
        return await self._run(read) if ids else {}


def read_incident_in_slack(connection: SqliteConnection, incident_id: str, with_ticket: bool,
                           entry_id: str | None = None) -> IncidentInSlack:
    """`SlackFootprints.incident_in_slack`, on the store's thread (also read by the outbox's claim of an effect,
    with the line a PostTimelineEntry posts: `entry_id`)."""
    conn = connection.reader
    # One read transaction (a snapshot: SQLite gives it for free); inside a caller's write transaction (an effect's
    # outcome claiming the next effects), that one, which sees what it wrote.
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        incident = load_incident(conn, incident_id, connection.known_incidents)
        footprints = connection.query("SELECT * FROM incident_slack WHERE incident_id=?", (incident_id,))
        footprint = _footprint(footprints[0]) if footprints else SlackFootprint(incident_id)
        if entry_id is not None:
            lines = connection.query("SELECT * FROM timeline WHERE id=?", (entry_id,))
            entry = (entry_from_row(lines[0]), lines[0]["slack_ts"]) if lines else None
            return IncidentInSlack(incident, footprint, entry=entry)
        if not with_ticket:
            return IncidentInSlack(incident, footprint)
        tickets = connection.query("SELECT * FROM tickets WHERE incident_id=?", (incident_id,))
        pending = conn.execute(TICKET_QUEUE_LAGGING_SQL, (f"servicenow:{incident_id}",)).fetchone()[0]
        return IncidentInSlack(incident, footprint, TicketRow(**tickets[0]) if tickets else None, int(pending))
    finally:
        if own:
            conn.execute("COMMIT")


def _footprint(row: dict[str, Any]) -> SlackFootprint:
    return SlackFootprint(
        incident_id=row["incident_id"], channel_id=row["channel_id"], channel_name=row["channel_name"],
        card_ts=row["card_ts"], card_pinned=bool(row["card_pinned"]), topic=row["topic"],
        announced_ts=row["announced_ts"], invited=tuple(json.loads(row["invited"])),
        unreachable=tuple(json.loads(row["unreachable"])), shared_channel=bool(row["shared_channel"]),
        sync_pending_shown=bool(row["sync_pending_shown"]))
