"""A rate limit shared by every replica (the RateBudget port), in PostgreSQL: one token bucket per key, one row each.

Taking a token is two statements in one transaction: an INSERT … ON CONFLICT DO NOTHING that makes a full bucket the
first time a key is used, then one UPDATE that locks the row (FOR UPDATE: a concurrent taker waits, then sees the
row as this one left it), refills it for the time passed and takes a token if there is one. Replicas taking from one
bucket at once are serialised on its row and never both spend the last token. Time is the callers' wall clock, which
replicas share (a monotonic clock is per process).

A token is taken before every Slack call, so it must be cheap: its transaction commits with synchronous_commit off
(never a corrupt database; a database crash may forget the last few takes, leaving the bucket a little fuller than it
should be for a few seconds — a price worth not paying a WAL flush per Slack call).
"""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.ports.replicas import RateBudget

CREATE = (b"INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (%(key)s, %(burst)s, %(now)s)"
          b" ON CONFLICT (key) DO NOTHING")
# The bucket refilled to `now`: tokens saved up plus `rate` a second since it was last touched, at most `burst`. A
# clock stepping back (another replica's a little behind) refills nothing rather than draining.
TAKE = (b"UPDATE rate_buckets b SET updated_at = GREATEST(%(now)s, o.updated_at),"
        b" tokens = CASE WHEN o.refilled >= 1 THEN o.refilled - 1 ELSE o.refilled END"
        b" FROM (SELECT key, updated_at,"
        b"   LEAST(%(burst)s, tokens + GREATEST(0, %(now)s - updated_at) * %(rate)s) AS refilled"
        b"   FROM rate_buckets WHERE key = %(key)s FOR UPDATE) o"
        b" WHERE b.key = o.key RETURNING o.refilled")

# As TAKE, for a batch: as many whole tokens as the refilled bucket holds, at most `wanted` (a bucket refilled for
# exactly the time one token takes may fall a hair short in floating point: still a token).
TAKE_UP_TO = (b"UPDATE rate_buckets b SET updated_at = GREATEST(%(now)s, o.updated_at),"
              b" tokens = GREATEST(0, o.refilled - LEAST(%(wanted)s, GREATEST(0, FLOOR(o.refilled + 1e-9))))"
              b" FROM (SELECT key, updated_at,"
              b"   LEAST(%(burst)s, tokens + GREATEST(0, %(now)s - updated_at) * %(rate)s) AS refilled"
              b"   FROM rate_buckets WHERE key = %(key)s FOR UPDATE) o"
              b" WHERE b.key = o.key RETURNING LEAST(%(wanted)s, GREATEST(0, FLOOR(o.refilled + 1e-9))) AS taken")


class PostgresRateBudget(PostgresPart, RateBudget):
    async def take_token(self, key: str, rate: float, burst: float, now: float) -> float:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        params = {"key": key, "burst": float(burst), "now": float(now), "rate": float(rate)}
        async with self._transaction() as conn:
            await conn.execute(b"SET LOCAL synchronous_commit = off")
            await conn.execute(CREATE, params)
            cursor = await conn.execute(TAKE, params)
            row = await cursor.fetchone()
        assert row is not None, "the bucket's row was made just before"
        refilled = float(row["refilled"])
        return 0.0 if refilled >= 1 else (1 - refilled) / rate

    async def take_up_to(self, key: str, wanted: int, rate: float, burst: float, now: float) -> int:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        params = {"key": key, "burst": float(burst), "now": float(now), "rate": float(rate),
                  "wanted": float(max(0, wanted))}
        async with self._transaction() as conn:
            await conn.execute(CREATE, params)
            cursor = await conn.execute(TAKE_UP_TO, params)
            row = await cursor.fetchone()
        assert row is not None, "the bucket's row was made just before"
        return int(row["taken"])
