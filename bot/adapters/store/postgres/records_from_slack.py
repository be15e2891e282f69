"""A record from Slack read back by its id (the RecordsFromSlack port), in PostgreSQL: one seek into inbox_event."""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.ports.store import RecordsFromSlack, StoredRecord


class PostgresRecordsFromSlack(PostgresPart, RecordsFromSlack):
    async def recorded_from_slack(self, record_id: str) -> StoredRecord | None:
        rows = await self._query("SELECT state, body, reference FROM inbox WHERE source='slack' AND event_id=%s",
                                 (record_id,))
        return StoredRecord(str(rows[0]["state"]), str(rows[0]["body"]), rows[0]["reference"]) if rows else None
