"""Forgetting the bookkeeping that has served its purpose (the StoreRetention port), in SQLite.

One batch is one short write transaction on the store's one thread: at most `limit` rows of each table, each found
through an index (the partial indexes of migration 13 for the inbox and the outbox, `seen_once_expiry` and
`job_runs_claimed`), so a batch costs the same however much history the file holds. Deliveries to record go ahead
of it (the thread runs them first), and the worker's and dispatcher's work queued meanwhile goes between batches.

Freed pages stay in the file and are reused by later rows: with retention running the file stops growing beyond the
window's bookkeeping and the history; it does not shrink (a VACUUM, offline, would do that).
"""

from __future__ import annotations

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.job_runs import KEPT_SECONDS
from bot.ports.retention import PRUNED_TABLES, StoreRetention

# The inbox's received_at is text in the format recording writes it in (inbox.py): the cutoff is written the same
# way, so comparing the text compares the times (and the index on received_at serves it).
CUTOFF = "strftime('%Y-%m-%dT%H:%M:%fZ', ?, 'unixepoch')"
# INDEXED BY: with no statistics SQLite's planner would rather walk the rows of the state (applied: all of them, the
# window included) than the partial index's range of the old ones.
PRUNE = {
    "inbox": "DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox INDEXED BY inbox_settled_received"
             f" WHERE state IN ('applied', 'ignored') AND received_at < {CUTOFF} LIMIT ?)",
    "outbox": "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox INDEXED BY outbox_done_created"
              " WHERE state = 'done' AND created_at < ? LIMIT ?)",
    "seen_once": "DELETE FROM seen_once WHERE key IN (SELECT key FROM seen_once WHERE expires_at <= ? LIMIT ?)",
    "job_runs": "DELETE FROM job_runs WHERE rowid IN (SELECT rowid FROM job_runs WHERE claimed_at < ? LIMIT ?)",
    "rate_buckets": "DELETE FROM rate_buckets WHERE key IN (SELECT key FROM rate_buckets WHERE updated_at < ?"
                    " LIMIT ?)",
}


class SqliteRetention(SqlitePart, StoreRetention):
    async def prune(self, *, settled_before: float, now: float, limit: int) -> dict[str, int]:
        before = {"inbox": settled_before, "outbox": settled_before, "seen_once": now,
                  "job_runs": now - KEPT_SECONDS, "rate_buckets": now - KEPT_SECONDS}

        def delete() -> dict[str, int]:
            with self._transaction() as conn:
                return {table: conn.execute(PRUNE[table], (before[table], limit)).rowcount
                        for table in PRUNED_TABLES}
        return await self._run(delete, long=True)  # a batch: the answers ready go back before it
