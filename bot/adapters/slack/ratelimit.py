"""Token buckets that keep us under an outside service's published rate limits instead of discovering them by 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
    """One bucket per key (a method, or a method and channel), created on first use."""

    def __init__(self, per_minute: Callable[[str], float | None], scale: float = 1.0, burst_seconds: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute, self._scale, self._burst_seconds, self._clock = per_minute, scale, burst_seconds, clock
        self._buckets: dict[str, TokenBucket | None] = {}

    async def acquire(self, key: str, limit_key: str | None = None) -> None:
        if self._scale <= 0:
            return
        if key not in self._buckets:
            limit = self._per_minute(limit_key or key)
            rate = limit * self._scale / 60 if limit else None
            self._buckets[key] = TokenBucket(rate, max(1.0, rate * self._burst_seconds), self._clock) if rate else None
        bucket = self._buckets[key]
        if bucket is not None:
            await bucket.acquire()
