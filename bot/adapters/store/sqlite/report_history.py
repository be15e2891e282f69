"""The incident history the reports read: incidents and deploys, read from and added to the store's database.

Plain functions over a sqlite3 connection, so the running bot calls them on the store's own thread (the
IncidentHistory port, `SqliteIncidentHistory`) and the CLI on a read-only connection of its own. A report's
aggregates are read in the running bot as the CLI reads them, on a read-only connection of their own in a worker
thread (WAL lets it read beside the writer): the store's one thread must not be held for a report (0.4 s over
100,000 incidents) while deliveries and effects wait behind it. Incidents are
filtered on their trigger time in Python: the stored JSON holds ISO times whose offsets may differ, which SQL would
compare as text. A report's aggregates (report_reads.py's `read_aggregates`) are computed in SQL instead, on the
indexed columns (report_sql.py), and stream to the report's tally.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.store.codec import incident_from_json, utc_iso
from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.incidents import INCIDENT_INSERT, incident_row
from bot.adapters.store.sqlite.report_reads import no_history, open_read_only, read_aggregates
from bot.domain.incident import Incident
from bot.ports.incident_history import DeployRecord, History, IncidentHistory
from bot.ports.report_aggregates import ReportQuery, ReportTally


class SqliteIncidentHistory(SqlitePart, IncidentHistory):
    async def report_history(self, start: datetime | None = None, end: datetime | None = None) -> History:
        return await self._run(lambda: read_history(self.db.conn, start, end), long=True)

    async def add_history(self, incidents: Sequence[Incident], deploys: Sequence[DeployRecord],
                          now: float) -> tuple[int, int]:
        return await self._run(lambda: write_history(self.db.conn, incidents, deploys, now), long=True)

    async def report_aggregates(self, query: ReportQuery, tally: ReportTally) -> None:
        path = self._connection.path
        if path in ("", ":memory:") or path.startswith("file::memory:"):  # no file another connection could open
            await self._run(lambda: read_aggregates(self.db.conn, query, tally), long=True)
            return
        await asyncio.to_thread(_read_aggregates_apart, Path(path), query, tally)


def _read_aggregates_apart(path: Path, query: ReportQuery, tally: ReportTally) -> None:
    """A report's aggregates on a read-only connection of their own (on a worker thread): one snapshot, as on the
    store's connection, taken beside the writer instead of in its queue."""
    conn = open_read_only(path)
    try:
        read_aggregates(conn, query, tally)
    finally:
        conn.close()


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _within(when: datetime, start: datetime | None, end: datetime | None) -> bool:
    when = _utc(when)
    return (start is None or when >= _utc(start)) and (end is None or when < _utc(end))


def read_history(conn: sqlite3.Connection, start: datetime | None = None,
                 end: datetime | None = None) -> History:
    """Incidents triggered, and deploys made, in [start, end) (either bound may be open)."""
    try:
        incidents = [incident_from_json(row[0]) for row in conn.execute("SELECT data FROM incidents ORDER BY number")]
        deploy_rows = conn.execute("SELECT id, service_id, occurred_at, summary, source FROM deploys"
                                   " ORDER BY occurred_at, id").fetchall()
    except sqlite3.OperationalError as error:
        raise no_history(conn, error) from None
    deploys = [DeployRecord(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4]) for r in deploy_rows]
    return History(tuple(i for i in incidents if _within(i.triggered_at, start, end)),
                   tuple(d for d in deploys if _within(d.occurred_at, start, end)))


def write_history(conn: sqlite3.Connection, incidents: Sequence[Incident], deploys: Sequence[DeployRecord],
                  now: float) -> tuple[int, int]:
    """Add incidents and deploys in one transaction; ones already stored (same id) are left as they are.
    Returns how many of each were added."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        added_incidents = sum(conn.execute(INCIDENT_INSERT.replace("INSERT", "INSERT OR IGNORE", 1),
                                           incident_row(i, now)).rowcount for i in incidents)
        added_deploys = sum(conn.execute(
            "INSERT OR IGNORE INTO deploys (id, service_id, occurred_at, summary, source) VALUES (?, ?, ?, ?, ?)",
            (d.id, d.service_id, utc_iso(d.occurred_at), d.summary, d.source)).rowcount for d in deploys)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return added_incidents, added_deploys
