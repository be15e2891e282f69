"""A rate limit shared by every replica (the RateBudget port), in PostgreSQL: one token bucket per key, one row each.

Taking a token locks the key's row (created full on first use), refills it for the time passed and takes one, in one
transaction: replicas taking from one bucket queue on its row lock, so they never both spend the last token. The
transaction commits with `synchronous_commit = off`: a token is taken before every Slack call, and a crash may only
forget the last few takes (the bucket is briefly fuller than it should be), never corrupt anything.
"""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.ports.replicas import RateBudget


class PostgresRateBudget(PostgresPart, RateBudget):
    async def take_token(self, key: str, rate: float, burst: float, now: float) -> float:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        async with self._transaction() as conn:
            await conn.execute(b"SET LOCAL synchronous_commit = off")
            await conn.execute(b"INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (%s, %s, %s)"
                               b" ON CONFLICT (key) DO NOTHING", (key, burst, now))
            cursor = await conn.execute(b"SELECT tokens, updated_at FROM rate_buckets WHERE key=%s FOR UPDATE",
                                        (key,))
            row = await cursor.fetchone()
            assert row is not None
            held, updated = float(row["tokens"]), float(row["updated_at"])
            # A clock stepping back (another replica's a little behind) refills nothing rather than draining.
            tokens = min(burst, held + max(0.0, now - updated) * rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
            if wait == 0.0:
                tokens -= 1
            await conn.execute(b"UPDATE rate_buckets SET tokens=%s, updated_at=%s WHERE key=%s",
                               (tokens, max(now, updated), key))
        return wait
