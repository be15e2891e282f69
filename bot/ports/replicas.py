"""What replicas sharing one store share beyond the data: which replica runs a scheduled job's slot (JobRuns), and
an outside system's rate budget (RateBudget). Both are store ports — `Store` includes them — kept here so that the
store's data ports (bot/ports/store.py) stay one page.
"""

from __future__ import annotations

from typing import Protocol


class JobRuns(Protocol):
    """Scheduled jobs run once across replicas: every replica's scheduler fires each job at the same instants (its
    triggers are aligned on the clock), and the job runs on the one replica that claims the (job, slot) first."""

    async def claim_job(self, job: str, slot: int, owner: str, now: float) -> bool:
        """True for the first claim of (`job`, `slot`) — `owner` (a replica's id) runs it — and False for every
        later one, from any replica. Claims older than an hour may be forgotten (no replica
        fires a slot that late: bot/app/scheduler.py's misfire graces are at most 10 minutes)."""
        ...


class RateBudget(Protocol):
    """A rate limit shared by every replica: one token bucket per key (an outside system's method), kept in the
    store and taken atomically, so N replicas together stay within what one may send."""

    async def take_token(self, key: str, rate: float, burst: float, now: float) -> float:
        """Take one token from `key`'s bucket (`rate` tokens a second, at most `burst` saved up, full when first
        used) and return 0.0; or, when the bucket is empty, take nothing and return how many seconds until a token
        is there. `now` is wall-clock seconds, the same on every replica."""
        ...

    async def take_up_to(self, key: str, wanted: int, rate: float, burst: float, now: float) -> int:
        """Take as many whole tokens as `key`'s bucket holds, at most `wanted`, and return how many were taken
        (0 when it is empty): a batch's share of a budget, decided at once however many replicas ask together."""
        ...
