"""Token buckets that keep us under an outside service's published rate limits instead of discovering them by 429.

Slack's limits are per app and workspace, not per process: replicas that each kept a bucket of their own would,
together, send N times the budget. So the running bot takes its tokens from the store (the RateBudget port: one
bucket per method, shared by every replica, taken atomically); the in-process `TokenBucket` remains for a caller
with no store (tools, tests of the pacing itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.ports import RateBudget


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. `acquire` waits (asynchronously) for a token."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = burst
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        async with self._lock:  # first come, first served
            self._refill()
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1


class Buckets:
    """One bucket per key (a method, or a method and channel), created on first use: in `shared` (every replica's)
    when given, else in this process."""

    def __init__(self, per_minute: Callable[[str], float | None], scale: float = 1.0, burst_seconds: float = 3.0,
                 clock: Callable[[], float] = time.monotonic, shared: RateBudget | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._per_minute, self._scale, self._burst_seconds, self._clock = per_minute, scale, burst_seconds, clock
        self._buckets: dict[str, TokenBucket | None] = {}
        self._shared, self._wall_clock = shared, wall_clock

    async def acquire(self, key: str, limit_key: str | None = None) -> None:
        if self._scale <= 0:
            return
        if self._shared is not None:
            await self._take_shared(key, limit_key or key)
            return
        if key not in self._buckets:
            limit = self._per_minute(limit_key or key)
            rate = limit * self._scale / 60 if limit else None
            self._buckets[key] = TokenBucket(rate, max(1.0, rate * self._burst_seconds), self._clock) if rate else None
        bucket = self._buckets[key]
        if bucket is not None:
            await bucket.acquire()

    async def _take_shared(self, key: str, limit_key: str) -> None:
        limit = self._per_minute(limit_key)
        if not limit:
            return
        rate = limit * self._scale / 60
        assert self._shared is not None
        # Wall-clock time: the replicas' monotonic clocks have nothing in common.
        while True:
            wait = await self._shared.take_token(key, rate, max(1.0, rate * self._burst_seconds), self._wall_clock())
            if wait <= 0:
                return
            await asyncio.sleep(wait)
