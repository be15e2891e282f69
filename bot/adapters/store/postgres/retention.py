"""Forgetting the bookkeeping that has served its purpose (the StoreRetention port), in PostgreSQL.

One batch is one short transaction: at most `limit` rows of each table, found through an index (the partial indexes
of migration 13 for the inbox and the outbox, `seen_once_expiry` and `job_runs_claimed`), so a batch costs the same
however much history the database holds. Rows another transaction holds locked are skipped (SKIP LOCKED), never
waited for: a batch never holds up intake, the worker or the dispatcher, and the next run takes what it skipped.
Replicas never prune at once anyway (the job runs on one replica per slot); the sweeps of seen_once and job_runs
that other ports make as they go (dedup.py, job_runs.py) may overlap with a batch, which SKIP LOCKED makes harmless.

Deleted rows' space is reused by later rows once autovacuum has been by: the tables stop growing.
"""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.adapters.store.postgres.job_runs import KEPT_SECONDS
from bot.ports.retention import PRUNED_TABLES, StoreRetention

# The inbox's received_at is text in the format recording writes it in (inbox.py): the cutoff is written the same
# way, so comparing the text compares the times (and the index on received_at serves it).
CUTOFF = "to_char(to_timestamp(%s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
# `= ANY(ARRAY(…))`: the rows chosen first (through the index, at most `limit`), then deleted by key, one lookup each;
# an `IN (subquery)` may be planned as a join over the whole table.
PRUNE = {
    "inbox": "DELETE FROM inbox WHERE seq = ANY(ARRAY(SELECT seq FROM inbox WHERE state IN ('applied', 'ignored')"
             f" AND received_at < {CUTOFF} LIMIT %s FOR UPDATE SKIP LOCKED))",
    "outbox": "DELETE FROM outbox WHERE seq = ANY(ARRAY(SELECT seq FROM outbox WHERE state = 'done'"
              " AND created_at < %s LIMIT %s FOR UPDATE SKIP LOCKED))",
    "seen_once": "DELETE FROM seen_once WHERE key = ANY(ARRAY(SELECT key FROM seen_once WHERE expires_at <= %s"
                 " LIMIT %s FOR UPDATE SKIP LOCKED))",
    "job_runs": "DELETE FROM job_runs WHERE ctid = ANY(ARRAY(SELECT ctid FROM job_runs WHERE claimed_at < %s"
                " LIMIT %s FOR UPDATE SKIP LOCKED))",
    "rate_buckets": "DELETE FROM rate_buckets WHERE key = ANY(ARRAY(SELECT key FROM rate_buckets WHERE updated_at < %s"
                    " LIMIT %s FOR UPDATE SKIP LOCKED))",
}


class PostgresRetention(PostgresPart, StoreRetention):
    async def prune(self, *, settled_before: float, now: float, limit: int) -> dict[str, int]:
        before = {"inbox": settled_before, "outbox": settled_before, "seen_once": now,
                  "job_runs": now - KEPT_SECONDS, "rate_buckets": now - KEPT_SECONDS}
        pruned: dict[str, int] = {}
        async with self._transaction() as conn:
            for table in PRUNED_TABLES:
                cursor = await conn.execute(PRUNE[table].encode(), (before[table], limit))
                pruned[table] = cursor.rowcount
        return pruned
