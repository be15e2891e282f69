"""What Slack sends twice is acted on once (the Deduplication port), in SQLite: a key is a row until its window
ends; claiming it is an insert that does nothing when an unexpired row is there, so replicas sharing the database
agree on who saw it first. Expired rows are swept by the next claim."""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.sqlite.thread import URGENT
from bot.ports.store import Deduplication

CHUNK = 500


class SqliteDeduplication(SqlitePart, Deduplication):
    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        def claim() -> bool:
            with self._transaction() as conn:
                conn.execute("DELETE FROM seen_once WHERE expires_at <= ?", (now,))
                inserted = conn.execute("INSERT OR IGNORE INTO seen_once (key, expires_at) VALUES (?, ?)",
                                        (key, now + window_seconds)).rowcount
            return inserted == 1
        # Slack wants its answer within 3 s: this goes ahead of the bookkeeping, like recording a delivery.
        return await self._run(claim, URGENT)

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
