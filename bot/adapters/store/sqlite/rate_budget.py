"""A rate limit shared by every replica (the RateBudget port), in SQLite: one token bucket per key, one row each.

Taking a token reads the row, refills it for the time passed and takes one, in one write transaction: SQLite's single
writer makes that atomic, so replicas on one file never both spend the last token. Time is the callers' wall clock,
which replicas share (a monotonic clock is per process).

A token is taken before every Slack call, so it must be cheap: its transaction commits with synchronous=NORMAL (in
WAL mode: no fsync of its own, never a corrupt database). A power cut may forget the last few takes; the bucket is
then a little fuller than it should be, for a few seconds — a price worth not paying a disk flush per Slack call.
"""

from __future__ import annotations

import math

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.ports.replicas import RateBudget

# A bucket refilled for exactly the time one token takes may fall a hair short in floating point: still a token.
WHOLE = 1e-9


class SqliteRateBudget(SqlitePart, RateBudget):
    async def take_token(self, key: str, rate: float, burst: float, now: float) -> float:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")

        def take() -> float:
            with self._transaction(light=True) as conn:
                row = conn.execute("SELECT tokens, updated_at FROM rate_buckets WHERE key=?", (key,)).fetchone()
                # A clock stepping back (another replica's a little behind) refills nothing rather than draining.
                tokens = burst if row is None else min(burst, row[0] + max(0.0, now - row[1]) * rate)
                wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
                if wait == 0.0:
                    tokens -= 1
                conn.execute("INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (key)"
                             " DO UPDATE SET tokens=excluded.tokens, updated_at=excluded.updated_at",
                             (key, tokens, max(now, row[1]) if row else now))
            return wait
        return await self._run(take)

    async def take_up_to(self, key: str, wanted: int, rate: float, burst: float, now: float) -> int:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")

        def take() -> int:
            with self._transaction(light=True) as conn:
                row = conn.execute("SELECT tokens, updated_at FROM rate_buckets WHERE key=?", (key,)).fetchone()
                tokens = burst if row is None else min(burst, row[0] + max(0.0, now - row[1]) * rate)
                taken = max(0, min(wanted, math.floor(tokens + WHOLE)))
                conn.execute("INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (key)"
                             " DO UPDATE SET tokens=excluded.tokens, updated_at=excluded.updated_at",
                             (key, max(0.0, tokens - taken), max(now, row[1]) if row else now))
            return taken
        return await self._run(take)
