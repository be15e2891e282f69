"""Scheduled jobs run once across replicas (the JobRuns port), in SQLite: a run is a row keyed by (job, time slot).

Every replica's scheduler fires a job at the same instants, so each asks to run the same slot; claiming it is an
insert that does nothing when the row is there, so exactly one replica — whichever SQLite's single writer lets in
first — gets True. A slot, not a leader: no replica has to be elected, kept alive or replaced, and a replica that
dies loses at most the slot it had claimed (the next slot goes to a survivor). Claims older than an hour are swept.
"""

from __future__ import annotations

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.ports.replicas import JobRuns

# A claim must outlive the last firing of its slot by any replica: every replica fires at the slot's start (the
# triggers are aligned), or later by at most the job's misfire grace (600 s at most, the pruning's) plus clock skew.
# An hour covers that six times over, whatever the slot's length; a day kept tens of thousands of rows (the handover
# checks claim a slot per rota every minute) for nothing. Idle rate buckets go after as long (full again by then).
KEPT_SECONDS = 3_600.0


class SqliteJobRuns(SqlitePart, JobRuns):
    async def claim_job(self, job: str, slot: int, owner: str, now: float) -> bool:
        def claim() -> bool:
            with self._transaction() as conn:
                conn.execute("DELETE FROM job_runs WHERE claimed_at < ?", (now - KEPT_SECONDS,))
                return conn.execute("INSERT OR IGNORE INTO job_runs (job, slot, owner, claimed_at) VALUES (?, ?, ?, ?)",
                                    (job, slot, owner, now)).rowcount == 1
        return await self._run(claim)
