"""Scheduled jobs run once across replicas (the JobRuns port), in PostgreSQL: a run is a row keyed by (job, slot).

Claiming is one INSERT … ON CONFLICT DO NOTHING: of replicas claiming the same slot at the same moment, the primary
key lets exactly one in. Claims older than an hour are swept, a few at a time. See sqlite/job_runs.py for why a slot
rather than a leader.
"""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.ports.replicas import JobRuns

# A claim must outlive the last firing of its slot by any replica: every replica fires at the slot's start (the
# triggers are aligned), or later by at most the job's misfire grace (600 s at most, the pruning's) plus clock skew.
# An hour covers that six times over, whatever the slot's length; a day kept tens of thousands of rows (the handover
# checks claim a slot per rota every minute) for nothing. Idle rate buckets go after as long (full again by then).
KEPT_SECONDS = 3_600.0


class PostgresJobRuns(PostgresPart, JobRuns):
    async def claim_job(self, job: str, slot: int, owner: str, now: float) -> bool:
        async with self._transaction() as conn:
            cursor = await conn.execute(
                b"INSERT INTO job_runs (job, slot, owner, claimed_at) VALUES (%s, %s, %s, %s)"
                b" ON CONFLICT (job, slot) DO NOTHING RETURNING 1", (job, slot, owner, now))
            claimed = await cursor.fetchone() is not None
            await conn.execute(b"DELETE FROM job_runs WHERE (job, slot) IN (SELECT job, slot FROM job_runs"
                               b" WHERE claimed_at < %s LIMIT 100 FOR UPDATE SKIP LOCKED)", (now - KEPT_SECONDS,))
        return claimed
