"""A record from Slack read back by its id (the RecordsFromSlack port), in SQLite: one seek into inbox_event."""

from __future__ import annotations

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.ports.store import RecordsFromSlack, StoredRecord


class SqliteRecordsFromSlack(SqlitePart, RecordsFromSlack):
    async def recorded_from_slack(self, record_id: str) -> StoredRecord | None:
        rows = await self._run(lambda: self._query(
            "SELECT state, body, reference FROM inbox WHERE source='slack' AND event_id=?", (record_id,)))
        return StoredRecord(str(rows[0]["state"]), str(rows[0]["body"]), rows[0]["reference"]) if rows else None
