"""The incident history the reports read: incidents and deploys, read from and added to PostgreSQL (the
IncidentHistory port). Incidents are filtered on their trigger time in Python, as in SQLite: the stored JSON holds
ISO times whose offsets may differ, which SQL would compare as text. A report's aggregates are computed in SQL
instead, on the indexed columns (report_sql.py), in one pass. Each may take longer than a call of normal work
(LONG_ANSWER_SECONDS rather than ANSWER_SECONDS)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from psycopg.rows import tuple_row

from bot.adapters.store import report_sql
from bot.adapters.store.codec import incident_from_json, utc_iso
from bot.adapters.store.postgres.connection import LONG_ANSWER_SECONDS, PostgresPart
from bot.adapters.store.postgres.incidents import INCIDENT_INSERT, incident_row
from bot.domain.incident import Incident
from bot.ports.incident_history import DeployRecord, History, IncidentHistory
from bot.ports.report_aggregates import ReportQuery, ReportTally


class PostgresIncidentHistory(PostgresPart, IncidentHistory):
    async def report_history(self, start: datetime | None = None, end: datetime | None = None) -> History:
        async with self._transaction(LONG_ANSWER_SECONDS) as conn:
            await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # incidents and deploys as one
            incidents = [incident_from_json(r["data"]) for r in await (await conn.execute(
                b"SELECT data FROM incidents ORDER BY number")).fetchall()]
            deploy_rows = await (await conn.execute(
                b"SELECT id, service_id, occurred_at, summary, source FROM deploys"
                b" ORDER BY occurred_at, id")).fetchall()
        deploys = [DeployRecord(r["id"], r["service_id"], datetime.fromisoformat(r["occurred_at"]), r["summary"],
                                r["source"]) for r in deploy_rows]
        return History(tuple(i for i in incidents if _within(i.triggered_at, start, end)),
                       tuple(d for d in deploys if _within(d.occurred_at, start, end)))

    async def add_history(self, incidents: Sequence[Incident], deploys: Sequence[DeployRecord],
                          now: float) -> tuple[int, int]:
        async with self._transaction(LONG_ANSWER_SECONDS) as conn:
            added_incidents = await _insert_each(conn, INCIDENT_INSERT + b" ON CONFLICT DO NOTHING RETURNING 1",
                                                 [incident_row(i, now) for i in incidents])
            added_deploys = await _insert_each(conn, b"INSERT INTO deploys (id, service_id, occurred_at, summary,"
                                               b" source) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
                                               b" RETURNING 1",
                                               [(d.id, d.service_id, utc_iso(d.occurred_at), d.summary,
                                                 d.source) for d in deploys])
        return added_incidents, added_deploys

    async def report_aggregates(self, query: ReportQuery, tally: ReportTally) -> None:
        d = report_sql.POSTGRES
        async with self._transaction(LONG_ANSWER_SECONDS) as conn:
            await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # cells and deploys as one
            async with conn.cursor(row_factory=tuple_row) as plain:
                await plain.execute(report_sql.SERVICES.encode())
                unlisted = [r[0] for r in await plain.fetchall() if r[0] not in query.listed]
                sql, params = report_sql.deploy_cells(d, query)
                await plain.execute(sql.encode(), params)
                deploys = [((r[0], None, r[1], r[2]), r[3]) for r in await plain.fetchall()]
                sql, params = report_sql.incident_cells(d, query, unlisted)
                await plain.execute(sql.encode(), params)
                rows = await plain.fetchall()
        # Tallied on a worker thread: a report over years of incidents sorts their durations for a few hundred
        # milliseconds, which on the event loop would hold up every webhook, command and effect meanwhile.
        await asyncio.to_thread(tally.cells, map(report_sql.incident_cell, rows), deploys)


async def _insert_each(conn: psycopg.AsyncConnection[object], sql: bytes, rows: list[tuple[object, ...]]) -> int:
    """Insert the rows pipelined; how many were new."""
    if not rows:
        return 0
    added = 0
    async with conn.cursor() as cursor:
        await cursor.executemany(sql, rows, returning=True)
        while True:
            added += await cursor.fetchone() is not None
            if not cursor.nextset():
                break
    return added


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _within(when: datetime, start: datetime | None, end: datetime | None) -> bool:
    when = _utc(when)
    return (start is None or when >= _utc(start)) and (end is None or when < _utc(end))
