"""The store's health port: whether the store answers, and the counts /readyz and the metrics report
(`StoreHealth`).

A store port like those of bot/ports/store.py (`Store` includes it), kept in a module of its own so that one stays
one page.
"""

from __future__ import annotations

from typing import Protocol


class StoreHealth(Protocol):
    async def ping(self) -> bool:
        """True when the store answers."""
        ...
    async def depths(self) -> dict[str, int]:
        """Counts for /readyz and metrics: inbox_pending, inbox_failed, outbox_pending, outbox_dead."""
        ...
    async def left_for_newer_version(self) -> dict[str, int]:
        """How many pending rows this replica leaves for one of a newer version (what a rolling upgrade leaves
        a while): "effects" of a kind it does not know or cannot read, and "records" (inbox rows) it does not know,
        with the rows of their incidents stored after them, which wait behind them."""
        ...
