"""The SQLite store: every store port (bot.ports.store), one part per port, over one connection on one thread.

Each part (inbox.py, outbox.py with outbox_claims.py, incidents.py, footprint.py, tickets.py, handover_ledger.py,
report_history.py, people.py, dedup.py, job_runs.py, rate_budget.py, retention.py, health.py, records_from_slack.py) is
the SQL of one port; `SqliteStore` is all of them sharing one `SqliteConnection` (connection.py), so a transaction in
one part (applying a decision) may write another's tables (the outbox).
"""

from __future__ import annotations

from pathlib import Path

from bot.adapters.store.sqlite.connection import SqliteConnection
from bot.adapters.store.sqlite.dedup import SqliteDeduplication
from bot.adapters.store.sqlite.footprint import SqliteFootprints
from bot.adapters.store.sqlite.handover_ledger import SqliteHandoverLedger
from bot.adapters.store.sqlite.health import SqliteHealth
from bot.adapters.store.sqlite.inbox import SqliteInbox
from bot.adapters.store.sqlite.incidents import SqliteIncidents
from bot.adapters.store.sqlite.job_runs import SqliteJobRuns
from bot.adapters.store.sqlite.outbox import SqliteOutbox
from bot.adapters.store.sqlite.people import SqlitePeopleCache
from bot.adapters.store.sqlite.rate_budget import SqliteRateBudget
from bot.adapters.store.sqlite.records_from_slack import SqliteRecordsFromSlack
from bot.adapters.store.sqlite.report_history import SqliteIncidentHistory
from bot.adapters.store.sqlite.retention import SqliteRetention
from bot.adapters.store.sqlite.tickets import SqliteTicketRecords
from bot.ports.store import Store


class SqliteStore(SqliteHealth, SqliteInbox, SqliteRecordsFromSlack, SqliteOutbox, SqliteIncidents, SqliteFootprints,
                  SqliteTicketRecords, SqliteHandoverLedger, SqliteIncidentHistory, SqlitePeopleCache,
                  SqliteDeduplication, SqliteJobRuns, SqliteRateBudget, SqliteRetention, Store):
    """The Store port's SQLite adapter: `SqliteStore(path)`, then `open()` before use and `close()` after."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(SqliteConnection(path))

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._connection.close()
