"""The worker: drains the inbox in arrival order, applies each event through the domain, and commits the new
state, timeline entry and effects with the inbox row in one transaction (so a crash replays, never half-applies)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from bot.domain.events import EventError, read_event
from bot.domain.incident import ChannelPolicy, apply_event
from bot.ports import Clock
from bot.store.sqlite import InboxRow, SqliteStore

log = logging.getLogger(__name__)


class IncidentWorker:
    def __init__(self, store: SqliteStore, policy: ChannelPolicy, clock: Clock,
                 on_effects: Callable[[], None]) -> None:
        self._store, self._policy, self._clock, self._on_effects = store, policy, clock, on_effects
        self._wake = asyncio.Event()
        self.heartbeat = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self.heartbeat = self._clock.now().timestamp()
            if not await self.drain():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    async def drain(self, limit: int = 100) -> int:
        """Apply up to `limit` pending inbox rows; return how many were handled."""
        rows = await self._store.pending_inbox(limit)
        for row in rows:
            await self.apply(row)
        return len(rows)

    async def apply(self, row: InboxRow) -> None:
        try:
            event = read_event(json.loads(row.body))
        except (EventError, ValueError, KeyError, TypeError) as error:
            log.warning("inbox %s (%s) cannot be read: %s", row.seq, row.event_type, error)
            await self._store.settle_inbox(row.seq, "ignored", str(error)[:500])
            return
        if not event.handled or event.incident_id is None:
            await self._store.settle_inbox(row.seq, "ignored", "event type not handled")
            return
        incident = await self._store.incident(event.incident_id)
        decision = apply_event(incident, event, self._policy)
        await self._store.commit_decision(row.seq, decision, self._clock.now().timestamp())
        log.info("applied %s %s to incident %s: %d effect(s)", event.type, event.id, event.incident_id,
                 len(decision.effects))
        if decision.effects:
            self._on_effects()
