"""Leases nothing settles: an effect done outside whose outcome the store refused while the dispatcher keeps running
(a blip between two claims) is taken again as soon as the store answers, not a lease's length later; and a stop that
comes while an effect's outcome is still on its way to the store (its commit stalled past the stop's wait) leaves the
leases to run out rather than free them — freed, another replica would claim that effect and do it a second time.

The store is the real SQLite store; its effect outcomes fail or wait as each test says, as a database blip or a
stalled commit would. The clock is frozen: no lease ever runs out by itself here."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.services.dispatcher as dispatching
from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.slack import OpenIncidentChannel
from bot.metrics import Metrics
from bot.ports.store import ClaimedEffects, IncidentInSlack, OutboxRow
from bot.services.dispatcher import Dispatcher
from tests.helpers import rows


class Outcomes(SqliteStore):
    """The real store; `refuse` effect outcomes fail (the database gone for a moment); while `hold` is set, an
    outcome waits for `go_on` before it is written (`recording`: one is waiting)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.file = path
        self.refuse, self.hold = 0, False
        self.recording, self.go_on, self.recorded = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.refused = asyncio.Event()

    async def effect_done_then_claim(self, *args: Any, **kwargs: Any) -> ClaimedEffects[OutboxRow] | None:
        if self.refuse:
            self.refuse -= 1
            self.refused.set()
            raise OSError("the database is restarting")
        if self.hold:
            self.recording.set()
            await self.go_on.wait()
        try:
            return await super().effect_done_then_claim(*args, **kwargs)
        finally:
            self.recorded.set()


class Counting:
    """The outside world: every call succeeds and is counted."""

    def __init__(self) -> None:
        self.performed: list[tuple[str, bool]] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append((effect.incident_id, retry))

    async def after_done(self, effect: Effect) -> None:
        return None


def frozen() -> SettableClock:
    return SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)


def states(store: Outcomes) -> list[dict[str, Any]]:
    return rows(store.file, "SELECT incident_id, state, lease_owner FROM outbox ORDER BY seq")


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = Outcomes(tmp_path / "d.db")
    await s.open()
    yield s
    await s.close()


async def test_an_effect_whose_outcome_the_store_refused_is_taken_again_at_the_next_claim(
        store: Outcomes, caplog: pytest.LogCaptureFixture) -> None:
    await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    world = Counting()
    d = Dispatcher(store, world, frozen(), Metrics(), owner="replica-1")
    store.refuse = 1
    assert await d.start_due() == 1
    await d.finish_in_flight()
    # The store answers again; the clock has not moved, so the lease has not run out: the next claim frees it.
    assert await d.start_due() == 1
    await d.finish_in_flight()
    assert world.performed == [("Q1", False), ("Q1", True)]
    assert states(store) == [{"incident_id": "Q1", "state": "done", "lease_owner": None}]
    assert "tried again as soon as the store answers" in caplog.text
    assert "resuming 1 effect(s) this dispatcher (replica-1)" in caplog.text


async def test_a_refused_outcome_frees_no_lease_of_an_effect_still_running(store: Outcomes) -> None:
    """Another queue's effect is mid-call as the stranded lease is freed: its lease is kept (freed, another replica
    would take it over and do it a second time)."""
    await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    await store.queue_effect(OpenIncidentChannel("Q2"), now=1_000.0)

    class SecondHangs(Counting):
        def __init__(self) -> None:
            super().__init__()
            self.calling, self.answer = asyncio.Event(), asyncio.Event()

        async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                          found: IncidentInSlack | None = None) -> None:
            await super().perform(effect, retry=retry, created_at=created_at, found=found)
            if effect.incident_id == "Q2":
                self.calling.set()
                await self.answer.wait()

    world = SecondHangs()
    d = Dispatcher(store, world, frozen(), Metrics(), owner="replica-1")
    store.refuse = 1
    assert await d.start_due() == 2
    await world.calling.wait()
    await asyncio.wait_for(store.refused.wait(), 5)  # Q1's outcome is refused; Q2 is still mid-call
    await asyncio.sleep(0.05)  # Q1's task ends
    assert await d.start_due() == 1  # Q1 again; Q2 still its own
    assert rows(store.file, "SELECT lease_owner FROM outbox WHERE incident_id='Q2'") == [{"lease_owner": "replica-1"}]
    other = Dispatcher(store, Counting(), frozen(), Metrics(), owner="replica-2")
    assert await other.start_due() == 0
    world.answer.set()
    await d.finish_in_flight()
    assert sorted(world.performed) == [("Q1", False), ("Q1", True), ("Q2", False)]
    assert [r["state"] for r in states(store)] == ["done", "done"]


async def test_a_stop_while_an_outcome_is_still_on_its_way_leaves_the_leases_to_run_out(
        store: Outcomes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(dispatching, "LEARNT_RECORD_SECONDS", 0.05)  # the wait a stop gives an outcome
    await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    world = Counting()
    store.hold = True
    running = asyncio.create_task(Dispatcher(store, world, frozen(), Metrics(), owner="replica-1").run())
    await store.recording.wait()  # done outside; its outcome's commit stalls past the stop's wait
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    # Another replica finds nothing to take: the lease is still held.
    other = Dispatcher(store, world, frozen(), Metrics(), owner="replica-2")
    assert await other.start_due() == 0
    store.go_on.set()  # the commit goes through at last
    await asyncio.wait_for(store.recorded.wait(), 5)
    assert await other.start_due() == 0
    assert world.performed == [("Q1", False)]
    assert states(store) == [{"incident_id": "Q1", "state": "done", "lease_owner": None}]
    assert "outcome is still on its way to the store" in caplog.text
