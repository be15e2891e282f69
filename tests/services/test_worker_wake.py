"""The worker's wake-up is never lost (bot/services/worker.py): a delivery stored while the worker drains an empty
inbox — after the drain read the pending rows, before it goes idle — wakes it again at once, rather than waiting for
the idle timeout (1 s in the bot; here an hour, so that a lost wake-up shows as a delivery never applied rather than
as a delay). The inbox is a real SQLite store; the only addition is that one delivery arrives during a drain, through
the store's own `record_delivery`, with the wake-up the intake gives it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.incident import Decision, Incident
from bot.ports.store import InboxRow, Skip
from bot.services.worker import IncidentWorker
from tests.helpers import incident_event
from tests.store.contract.builders import DAY, POLICY, at

# Longer than any test runs: a worker that lost its wake-up does not look at the inbox again within the test.
IDLE_SECONDS = 3600.0


class DeliveryDuringADrain(SqliteStore):
    """A real store on which one delivery arrives while the worker's drain runs: after the drain found nothing
    pending, and before the drain has returned — the window in which the wake-up used to be lost."""

    arrival: Callable[[], None] | None = None
    empty_drains = 0
    idle: asyncio.Event | None = None  # set once a drain found nothing

    async def apply_pending(self, decide: Callable[[InboxRow, Incident | None], Decision | Skip], now: float,
                            limit: int = 100) -> list[Decision]:
        decisions = await super().apply_pending(decide, now, limit)
        if not decisions:
            self.empty_drains += 1
            if self.idle is not None:
                self.idle.set()
            if self.arrival is not None and self.empty_drains == 2:  # the worker idle once already, then woken
                body = json.dumps(incident_event("incident.triggered", incident_id="Q1", number=1,
                                                 occurred_at=at(0), created_at=at(0)))
                assert await self.record_delivery(source="pagerduty", delivery_id="D1", event_id="E1",
                                                  event_type="incident.triggered", incident_id="Q1",
                                                  occurred_at=at(0), body=body)
                self.arrival()  # what the intake does once the delivery is stored
        return decisions


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DeliveryDuringADrain]:
    opened = DeliveryDuringADrain(tmp_path / "bot.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_a_delivery_stored_during_an_empty_drain_is_applied_without_waiting(
        store: DeliveryDuringADrain) -> None:
    applied = asyncio.Event()
    worker = IncidentWorker(store, POLICY, SettableClock(DAY, frozen=True), applied.set,
                            pagerduty=PagerDutyWebhook(["secret"]), idle_seconds=IDLE_SECONDS)
    store.arrival, store.idle = worker.wake, asyncio.Event()
    running = asyncio.create_task(worker.run())
    try:
        # The first drain finds nothing and the worker goes idle; a wake-up with nothing new starts the second
        # drain, during which the delivery arrives.
        await store.idle.wait()
        worker.wake()
        # A hang guard, not a timing figure: a lost wake-up leaves the delivery unapplied for the idle hour.
        async with asyncio.timeout(60):
            await applied.wait()
        assert store.empty_drains == 2
        assert await store.incident("Q1") is not None
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
