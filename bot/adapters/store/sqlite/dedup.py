"""What Slack sends twice is acted on once (the Deduplication port), in SQLite: a key is a row until its window
ends; claiming it is an insert that does nothing when an unexpired row is there, so replicas sharing the database
agree on who saw it first. Expired rows are swept by the next claim. A claim with its effect (an operators' alert told
once a month) inserts both in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.outbox import insert_effect
from bot.adapters.store.sqlite.thread import URGENT
from bot.domain.effects import Effect
from bot.ports.store import Deduplication

CHUNK = 500


class SqliteDeduplication(SqlitePart, Deduplication):
    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        def claim() -> bool:
            with self._transaction() as conn:
                return _claimed(conn, key, window_seconds, now)
        # Slack wants its answer within 3 s: this goes ahead of the bookkeeping, like recording a delivery.
        return await self._run(claim, URGENT)

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        def claim() -> bool:
            with self._transaction() as conn:
                if not _claimed(conn, key, window_seconds, now):
                    return False
                insert_effect(conn, effect, priority, now)
                return True
        return await self._run(claim)  # nobody waits on it as Slack waits on a command's claim

    async def remember(self, key: str, window_seconds: float, now: float) -> None:
        def remember() -> None:
            with self._transaction() as conn:
                conn.execute("INSERT INTO seen_once (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                             " SET expires_at = excluded.expires_at", (key, now + window_seconds))
        # Said with the action's answer to the person: as urgent as the claim.
        await self._run(remember, URGENT)

    async def still_seen(self, keys: Sequence[str], now: float) -> set[str]:
        def read() -> set[str]:
            seen: set[str] = set()
            for start in range(0, len(keys), CHUNK):  # within SQLite's bound on a statement's parameters
                chunk = list(keys[start:start + CHUNK])
                # The reader, as every read: `db` would put the connection back to synchronous=FULL (a PRAGMA, after
                # a light write) for a SELECT that writes nothing.
                seen.update(r[0] for r in self._reader.execute(
                    f"SELECT key FROM seen_once WHERE key IN ({', '.join('?' * len(chunk))}) AND expires_at > ?",
                    [*chunk, now]).fetchall())
            return seen
        return await self._run(read) if keys else set()

    async def forget(self, key: str) -> None:
        def forget() -> None:
            with self._transaction() as conn:
                conn.execute("DELETE FROM seen_once WHERE key=?", (key,))
        # Said with the failure's answer to the person: as urgent as the claim.
        await self._run(forget, URGENT)


def _claimed(conn: sqlite3.Connection, key: str, window_seconds: float, now: float) -> bool:
    """Claim `key` inside the caller's transaction: whether this claim is the first in its window."""
    conn.execute("DELETE FROM seen_once WHERE expires_at <= ?", (now,))
    return conn.execute("INSERT OR IGNORE INTO seen_once (key, expires_at) VALUES (?, ?)",
                        (key, now + window_seconds)).rowcount == 1
