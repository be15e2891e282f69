"""Whether the store answers, and how deep its queues are (the StoreHealth port), for /readyz and the metrics."""

from __future__ import annotations

from bot.adapters.store.sqlite.connection import SqlitePart
from bot.adapters.store.unreadable import EFFECTS_WAITING, RECORDS_WAITING
from bot.ports.store_health import StoreHealth


class SqliteHealth(SqlitePart, StoreHealth):
    async def ping(self) -> bool:
        return await self._run(lambda: self.db.execute("SELECT 1").fetchone() == (1,))

    async def depths(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            inbox = dict(self.db.execute(
                "SELECT state, count(*) FROM inbox WHERE state IN ('pending', 'failed') GROUP BY state").fetchall())
            rows = self.db.execute("SELECT state, count(*) FROM outbox WHERE state != 'done' GROUP BY state")
            outbox = dict(rows.fetchall())
            return {"inbox_pending": inbox.get("pending", 0), "inbox_failed": inbox.get("failed", 0),
                    "outbox_pending": outbox.get("pending", 0), "outbox_dead": outbox.get("dead", 0)}
        return await self._run(read)

    async def left_for_newer_version(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            skipped = self._connection.unreadable_effects.seqs
            [effects] = self.db.execute(EFFECTS_WAITING.format(skipped=",".join("?" * len(skipped)),
                                                               indexed="INDEXED BY outbox_due"), skipped).fetchone()
            [records] = self.db.execute(RECORDS_WAITING).fetchone()
            return {"effects": effects, "records": records}
        return await self._run(read, long=True)  # a look at every queue's head (a backlog of them in a storm)
