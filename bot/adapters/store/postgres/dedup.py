"""What Slack sends twice is acted on once (the Deduplication port), in PostgreSQL: a key is a row until its window
ends. Claiming it is one statement — insert the key, or take over its row if that row's window has ended — so
replicas claiming the same key at the same moment agree on who saw it first (the primary key decides). Expired rows
of other keys are swept by later claims. A claim with its effect (an operators' alert told once a month) inserts both in
one transaction: it holds the key's row while its effect takes its queue's lock, and nothing holding a queue's lock
waits for a key (see "Lock order" in outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.store.postgres.connection import Connection, PostgresPart
from bot.adapters.store.postgres.outbox import insert_effect
from bot.domain.effects import Effect
from bot.ports.store import Deduplication


class PostgresDeduplication(PostgresPart, Deduplication):
    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        async with self._transaction() as conn:
            return await _claimed(conn, key, window_seconds, now)

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        async with self._transaction() as conn:
            if not await _claimed(conn, key, window_seconds, now):
                return False
            await insert_effect(conn, effect, priority, now)
            return True

    async def remember(self, key: str, window_seconds: float, now: float) -> None:
        async with self._transaction() as conn:
            await conn.execute(b"INSERT INTO seen_once (key, expires_at) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE"
                               b" SET expires_at = excluded.expires_at", (key, now + window_seconds))

    async def still_seen(self, keys: Sequence[str], now: float) -> set[str]:
        if not keys:
            return set()
        rows = await self._query("SELECT key FROM seen_once WHERE key = ANY(%s) AND expires_at > %s", (list(keys), now))
        return {row["key"] for row in rows}

    async def forget(self, key: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(b"DELETE FROM seen_once WHERE key = %s", (key,))


async def _claimed(conn: Connection, key: str, window_seconds: float, now: float) -> bool:
    """Claim `key` inside the caller's transaction: whether this claim is the first in its window."""
    cursor = await conn.execute(
        b"INSERT INTO seen_once (key, expires_at) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE"
        b" SET expires_at = excluded.expires_at WHERE seen_once.expires_at <= %s RETURNING 1",
        (key, now + window_seconds, now))
    claimed = await cursor.fetchone() is not None
    # A few at a time: a sweep never holds up the answer Slack is waiting for.
    await conn.execute(b"DELETE FROM seen_once WHERE key IN (SELECT key FROM seen_once"
                       b" WHERE expires_at <= %s LIMIT 100 FOR UPDATE SKIP LOCKED)", (now,))
    return claimed
