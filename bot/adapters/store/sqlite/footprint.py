"""What exists in Slack for each incident (the SlackFootprints port), in SQLite: one row per incident, written piece
by piece (an upsert of only the pieces given, in a light transaction: see connection.py), with the lists of invited
and unreachable people as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Unpack

from bot.adapters.store.outbox_sql import LAGGING
from bot.adapters.store.sqlite.bookkeeping_sql import footprint_update_in_channel, footprint_upsert
from bot.adapters.store.sqlite.connection import SqliteConnection, SqlitePart
from bot.adapters.store.sqlite.incidents import entry_from_row
from bot.ports.store import FootprintChange, IncidentInSlack, SlackFootprint, SlackFootprints, TicketRow

CHUNK = 500


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

    async def update_footprint_in_channel(self, incident_id: str, channel_id: str, changes: FootprintChange) -> bool:
        sql, params = footprint_update_in_channel(incident_id, channel_id, changes)

        def write() -> bool:
            with self._transaction(light=True) as conn:  # (light: as update_footprint)
                cursor = conn.execute(sql, params)
                return cursor.rowcount == 1 if changes else cursor.fetchone() is not None
        return await self._run(write)

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


# What the footprint and the ticket are made of (_footprint, TicketRow): the columns of their tables.
FOOTPRINT_COLUMNS = ("incident_id", "channel_id", "channel_name", "card_ts", "card_pinned", "topic", "announced_ts",
                     "invited", "unreachable", "shared_channel", "sync_pending_shown", "bot_removed")
TICKET_COLUMNS = ("incident_id", "sys_id", "number", "link", "state", "channel_told")
# Parameter (?1): the incident. Its JSON (NULL: no such incident) and its footprint's columns (all NULL: none yet),
# in one statement: one run is one snapshot, and each statement run costs about as much as its reads by key.
_SELECT_IN_SLACK = ("SELECT (SELECT data FROM incidents WHERE id = q.id), "
                    + ", ".join(f"s.{c}" for c in FOOTPRINT_COLUMNS))
_FROM_IN_SLACK = " FROM (SELECT ?1 AS id) q LEFT JOIN incident_slack s ON s.incident_id = q.id"
IN_SLACK = _SELECT_IN_SLACK + _FROM_IN_SLACK
# Parameters: the incident (?1), its ServiceNow queue (?2). IN_SLACK's columns, then its ticket's (all NULL: none) and
# how many effects of the queue lag (as TICKET_QUEUE_LAGGING counts them).
IN_SLACK_WITH_TICKET = (_SELECT_IN_SLACK + ", " + ", ".join(f"t.{c}" for c in TICKET_COLUMNS)
                        + f", (SELECT count(*) FROM outbox WHERE queue = ?2 AND {LAGGING})" + _FROM_IN_SLACK
                        + " LEFT JOIN tickets t ON t.incident_id = q.id")


def read_incident_in_slack(connection: SqliteConnection, incident_id: str, with_ticket: bool,
                           entry_id: str | None = None) -> IncidentInSlack:
    """`SlackFootprints.incident_in_slack`, on the store's thread (also read by the outbox's claim of an effect,
    with the line a PostTimelineEntry posts: `entry_id`)."""
    conn = connection.reader
    # One read transaction (a snapshot: SQLite gives it for free) when two statements read; inside a caller's write
    # transaction (an effect's outcome claiming the next effects), that one, which sees what it wrote.
    own = entry_id is not None and not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        if with_ticket and entry_id is None:
            row = conn.execute(IN_SLACK_WITH_TICKET, (incident_id, f"servicenow:{incident_id}")).fetchone()
        else:
            row = conn.execute(IN_SLACK, (incident_id,)).fetchone()
        incident = None if row[0] is None else connection.known_incidents.decode(incident_id, row[0])
        slack = row[1:1 + len(FOOTPRINT_COLUMNS)]
        footprint = (SlackFootprint(incident_id) if slack[0] is None
                     else _footprint(dict(zip(FOOTPRINT_COLUMNS, slack, strict=True))))
        if entry_id is not None:
            lines = connection.query("SELECT * FROM timeline WHERE id=?", (entry_id,))
            entry = (entry_from_row(lines[0]), lines[0]["slack_ts"]) if lines else None
            return IncidentInSlack(incident, footprint, entry=entry)
        if not with_ticket:
            return IncidentInSlack(incident, footprint)
        ticket = row[1 + len(FOOTPRINT_COLUMNS):-1]
        found = None if ticket[0] is None else TicketRow(**dict(zip(TICKET_COLUMNS, ticket, strict=True)))
        return IncidentInSlack(incident, footprint, found, int(row[-1]))
    finally:
        if own:
            conn.execute("COMMIT")


def _footprint(row: dict[str, Any]) -> SlackFootprint:
    return SlackFootprint(
        incident_id=row["incident_id"], channel_id=row["channel_id"], channel_name=row["channel_name"],
        card_ts=row["card_ts"], card_pinned=bool(row["card_pinned"]), topic=row["topic"],
        announced_ts=row["announced_ts"], invited=tuple(json.loads(row["invited"])),
        unreachable=tuple(json.loads(row["unreachable"])), shared_channel=bool(row["shared_channel"]),
        sync_pending_shown=bool(row["sync_pending_shown"]), bot_removed=bool(row["bot_removed"]))
