"""Scheduled jobs run once across replicas (the JobRuns port), in PostgreSQL: a run is a row keyed by (job, time slot).

Every replica's scheduler fires a job at the same instants, so each asks to run the same slot; claiming it is an
INSERT … ON CONFLICT DO NOTHING, so exactly one replica — whichever inserts the key first; the others wait on its
unique index entry and then find it there — gets True. Claims older than a day are swept.
"""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.ports.replicas import JobRuns

KEPT_SECONDS = 86_400.0


class PostgresJobRuns(PostgresPart, JobRuns):
    async def claim_job(self, job: str, slot: int, owner: str, now: float) -> bool:
        async with self._transaction() as conn:
            await conn.execute(b"DELETE FROM job_runs WHERE claimed_at < %s", (now - KEPT_SECONDS,))
            cursor = await conn.execute(b"INSERT INTO job_runs (job, slot, owner, claimed_at) VALUES (%s, %s, %s, %s)"
                                        b" ON CONFLICT (job, slot) DO NOTHING", (job, slot, owner, now))
            return cursor.rowcount == 1
