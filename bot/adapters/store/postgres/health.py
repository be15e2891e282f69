"""Whether the store answers, and how deep its queues are (the StoreHealth port), for /readyz and the metrics."""

from __future__ import annotations

from bot.adapters.store.postgres.connection import PostgresPart
from bot.adapters.store.unreadable import EFFECTS_WAITING, RECORDS_WAITING
from bot.ports.store_health import StoreHealth


class PostgresHealth(PostgresPart, StoreHealth):
    async def ping(self) -> bool:
        # Answering is not enough: a server refusing writes (a node just demoted in a failover, a standby reached
        # through `target_session_attrs=any`, `default_transaction_read_only`) fails every delivery with a 503.
        return bool(await self._value("SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') "
                                      "= 'off'"))

    async def depths(self) -> dict[str, int]:
        rows = await self._query(
            "SELECT (SELECT count(*) FROM inbox WHERE state='pending') AS inbox_pending,"
            " (SELECT count(*) FROM inbox WHERE state='failed') AS inbox_failed,"
            " (SELECT count(*) FROM outbox WHERE state='pending') AS outbox_pending,"
            " (SELECT count(*) FROM outbox WHERE state='dead') AS outbox_dead")
        return {name: int(count) for name, count in rows[0].items()}

    async def left_for_newer_version(self) -> dict[str, int]:
        [row] = await self._query(
            f"SELECT ({EFFECTS_WAITING.format(skipped='SELECT unnest(%s::bigint[])', indexed='')}) AS effects,"
            f" ({RECORDS_WAITING}) AS records",
            (list(self._connection.unreadable_effects.seqs),))
        return {name: int(count) for name, count in row.items()}
