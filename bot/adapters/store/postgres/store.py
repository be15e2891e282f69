"""The PostgreSQL store: every store port (bot.ports.store), one part per port, over one pool of connections.

Each part (inbox.py with inbox_applying.py, outbox.py with outbox_claims.py, incidents.py, footprint.py, tickets.py,
handover_ledger.py, report_history.py, people.py, dedup.py, job_runs.py, rate_budget.py, retention.py, health.py,
records_from_slack.py) is the SQL of one port, mirroring the SQLite store (bot/adapters/store/sqlite/) and its codec;
`PostgresStore` is all of them sharing one `PostgresConnection` (connection.py). Several replicas may share one
database: see inbox_applying.py for how deliveries are applied once and in order across them, outbox_claims.py for
effects' leases.
"""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresConnection
from bot.adapters.store.postgres.dedup import PostgresDeduplication
from bot.adapters.store.postgres.footprint import PostgresFootprints
from bot.adapters.store.postgres.handover_ledger import PostgresHandoverLedger
from bot.adapters.store.postgres.health import PostgresHealth
from bot.adapters.store.postgres.inbox import PostgresInbox
from bot.adapters.store.postgres.incidents import PostgresIncidents
from bot.adapters.store.postgres.job_runs import PostgresJobRuns
from bot.adapters.store.postgres.outbox import PostgresOutbox
from bot.adapters.store.postgres.people import PostgresPeopleCache
from bot.adapters.store.postgres.rate_budget import PostgresRateBudget
from bot.adapters.store.postgres.records_from_slack import PostgresRecordsFromSlack
from bot.adapters.store.postgres.report_history import PostgresIncidentHistory
from bot.adapters.store.postgres.retention import PostgresRetention
from bot.adapters.store.postgres.tickets import PostgresTicketRecords
from bot.ports.store import Store


class PostgresStore(PostgresHealth, PostgresInbox, PostgresRecordsFromSlack, PostgresOutbox, PostgresIncidents,
                    PostgresFootprints, PostgresTicketRecords, PostgresHandoverLedger, PostgresIncidentHistory,
                    PostgresPeopleCache, PostgresDeduplication, PostgresJobRuns, PostgresRateBudget, PostgresRetention,
                    Store):
    """The Store port's PostgreSQL adapter: `PostgresStore(url)`, then `open()` before use and `close()` after.
    `open()` migrates the schema (under an advisory lock) and raises StoreUnavailable, naming
    PAVEDROAD_DATABASE_URL, when the database cannot be reached."""

    def __init__(self, url: str, *, pool_size: int | None = None) -> None:
        sizes = {} if pool_size is None else {"min_size": min(2, pool_size), "max_size": pool_size}
        super().__init__(PostgresConnection(url, **sizes))

    @property
    def where(self) -> str:
        """The database, for messages: its URL without the password."""
        return self._connection.where

    async def open(self, *, migrate: bool = True) -> None:
        """`migrate` False: the schema is left as it is (`pavedroad inbox failed`, which only reads)."""
        await self._connection.open(migrate=migrate)

    async def close(self) -> None:
        await self.flushed()
        await self._connection.close()
