"""What exists in Slack for each incident (the SlackFootprints port), in PostgreSQL: one row per incident, written
piece by piece (an upsert of only the pieces given, so steps running concurrently — on this replica or another —
never overwrite each other's pieces), with the lists of invited and unreachable people as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Unpack

from bot.adapters.store.codec import incident_from_json
from bot.adapters.store.outbox_sql import TICKET_QUEUE_LAGGING
from bot.adapters.store.postgres.bookkeeping_sql import footprint_update_in_channel, footprint_upsert
from bot.adapters.store.postgres.connection import Connection, PostgresPart
from bot.adapters.store.postgres.incidents import entry_from_row
from bot.ports.store import FootprintChange, IncidentInSlack, SlackFootprint, SlackFootprints, TicketRow

TICKET_QUEUE_LAGGING_SQL = TICKET_QUEUE_LAGGING.format(p="%s").encode()


class PostgresFootprints(PostgresPart, SlackFootprints):
    async def footprint(self, incident_id: str) -> SlackFootprint:
        rows = await self._query("SELECT * FROM incident_slack WHERE incident_id=%s", (incident_id,))
        return _footprint(rows[0]) if rows else SlackFootprint(incident_id)

    async def incident_in_slack(self, incident_id: str, *, with_ticket: bool = False) -> IncidentInSlack:
        # One connection of the pool for the four reads, not one each.
        async with self._transaction() as conn:
            return await read_incident_in_slack(conn, incident_id, with_ticket)

    async def update_footprint(self, incident_id: str, **changes: Unpack[FootprintChange]) -> None:
        await self._execute(*footprint_upsert(incident_id, changes))

    async def update_footprint_in_channel(self, incident_id: str, channel_id: str, changes: FootprintChange) -> bool:
        sql, params = footprint_update_in_channel(incident_id, channel_id, changes)
        if not changes:
            return bool(await self._query(sql, params))
        return await self._execute(sql, params) == 1

    async def footprint_by_channel(self, channel_id: str) -> SlackFootprint | None:
        rows = await self._query("SELECT * FROM incident_slack WHERE channel_id=%s LIMIT 1", (channel_id,))
        return _footprint(rows[0]) if rows else None

    async def channels_of(self, incident_ids: Sequence[str]) -> dict[str, str]:
        if not incident_ids:
            return {}
        return {r["incident_id"]: r["channel_id"] for r in await self._query(
            "SELECT incident_id, channel_id FROM incident_slack WHERE incident_id = ANY(%s)"
            " AND channel_id IS NOT NULL", (list(incident_ids),))}


async def read_incident_in_slack(conn: Connection, incident_id: str, with_ticket: bool,
                                 entry_id: str | None = None) -> IncidentInSlack:
    """`SlackFootprints.incident_in_slack`, in the caller's transaction (also read by the outbox's claim, with the
    line a PostTimelineEntry posts: `entry_id`)."""
    cursor = await conn.execute(b"SELECT data FROM incidents WHERE id=%s", (incident_id,))
    incident_rows = await cursor.fetchall()
    cursor = await conn.execute(b"SELECT * FROM incident_slack WHERE incident_id=%s", (incident_id,))
    footprints = await cursor.fetchall()
    incident = incident_from_json(incident_rows[0]["data"]) if incident_rows else None
    footprint = _footprint(footprints[0]) if footprints else SlackFootprint(incident_id)
    if entry_id is not None:
        cursor = await conn.execute(b"SELECT * FROM timeline WHERE id=%s", (entry_id,))
        lines = await cursor.fetchall()
        return IncidentInSlack(incident, footprint,
                               entry=(entry_from_row(lines[0]), lines[0]["slack_ts"]) if lines else None)
    if not with_ticket:
        return IncidentInSlack(incident, footprint)
    cursor = await conn.execute(b"SELECT * FROM tickets WHERE incident_id=%s", (incident_id,))
    tickets = await cursor.fetchall()
    cursor = await conn.execute(TICKET_QUEUE_LAGGING_SQL, (f"servicenow:{incident_id}",))
    pending = await cursor.fetchall()
    return IncidentInSlack(incident, footprint, TicketRow(**tickets[0]) if tickets else None,
                           int(pending[0]["lagging"]))


def _footprint(row: dict[str, Any]) -> SlackFootprint:
    return SlackFootprint(
        incident_id=row["incident_id"], channel_id=row["channel_id"], channel_name=row["channel_name"],
        card_ts=row["card_ts"], card_pinned=bool(row["card_pinned"]), topic=row["topic"],
        announced_ts=row["announced_ts"], invited=tuple(json.loads(row["invited"])),
        unreachable=tuple(json.loads(row["unreachable"])), shared_channel=bool(row["shared_channel"]),
        sync_pending_shown=bool(row["sync_pending_shown"]), bot_removed=bool(row["bot_removed"]))
