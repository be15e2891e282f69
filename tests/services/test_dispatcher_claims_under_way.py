"""The dispatcher while an effect's outcome claims what its slot does next (`Outbox.effect_done_then_claim`), found in
review of session 7:
- a wake-up that came meanwhile (the claim holding every free slot) found no room, and the loop slept until its next
  look by itself, though the outcome's claim had read the store before what woke the loop;
- an outcome whose follow-up went to a lane another outcome's claim held (and read before it) woke nobody;
- stopping cancelled the outcome's call, whose claim went on and leased effects to the stopping dispatcher that
  nobody then started: other replicas waited for the lease to run out.

The executor stands in for the outside world; the store is the real SQLite store, whose outcome call (once recorded,
the claim read) waits for the test, as a slow commit would keep it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.pagerduty import PublishStatusUpdate
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import PostTimelineEntry
from bot.metrics import Metrics
from bot.ports.store import ClaimedEffects, EffectBookkeeping, IncidentInSlack, OutboxRow
from bot.services.bookkeeping import follow_up
from bot.services.dispatcher import Dispatcher


class SlowOutcomes(SqliteStore):
    """The real store, whose first outcome-and-claim answers only once the test lets it (`go_on`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.recorded = asyncio.Event()
        self.go_on = asyncio.Event()

    async def effect_done_then_claim(self, seq: int, *, owner: str, bookkeeping: EffectBookkeeping | None,
                                     now: float, room: Mapping[str, int], busy: Sequence[str], lease_seconds: float,
                                     reads: Mapping[str, bool] | None = None
                                     ) -> ClaimedEffects[OutboxRow] | None:
        answer = await super().effect_done_then_claim(seq, owner=owner, bookkeeping=bookkeeping, now=now, room=room,
                                                      busy=busy, lease_seconds=lease_seconds, reads=reads)
        if not self.recorded.is_set():
            self.recorded.set()
            await self.go_on.wait()
        return answer


class World:
    """Answers every call at once, and says when a ServiceNow effect was performed."""

    def __init__(self) -> None:
        self.servicenow = asyncio.Event()

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        if effect.system == "servicenow":
            self.servicenow.set()

    async def after_done(self, effect: Effect) -> None:
        return None


async def within_seconds(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` is set within `seconds` of real time (a thread's timer: the loop's clock is held still)."""
    loop = asyncio.get_running_loop()
    gave_up = asyncio.Event()
    timer = threading.Timer(seconds, lambda: loop.call_soon_threadsafe(gave_up.set))
    timer.start()
    waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(gave_up.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        for wait in waits:
            wait.cancel()
    return event.is_set()


async def until_heartbeat(dispatcher: Dispatcher, at: float) -> None:
    """Until the loop has looked for room at the clock's `at` (no store call when it finds none)."""
    for _ in range(10_000):
        if dispatcher.heartbeat == at:
            return
        await asyncio.sleep(0)
    raise AssertionError("the loop did not look")


async def test_a_wake_up_while_an_outcome_claims_is_not_lost(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The event loop's clock is held still, so the loop's own next look never comes: only a wake-up starts anything.
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "time", lambda: 0.0)  # no timer fires: the loop's own next look never comes
    store = SlowOutcomes(tmp_path / "d.db")
    await store.open()
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    world = World()
    dispatcher = Dispatcher(store, world, clock, Metrics(), concurrency=1)
    await store.queue_effect(PostTimelineEntry("Q1", "n1"), now=1_000.0)
    running = asyncio.create_task(dispatcher.run())
    try:
        # The line is posted; its outcome is recorded and its claim (holding ServiceNow's and PagerDuty's free
        # slots) has read the store: nothing else was due.
        await store.recorded.wait()
        # Meanwhile a ticket's sync is queued and the loop woken, as intake does: the loop finds no room (the line's
        # slot, and the slots its outcome's claim holds) and sleeps.
        await store.queue_effect(SyncTicket("Q2"), now=1_000.0)
        clock.set(datetime.fromtimestamp(1_001, UTC))
        dispatcher.wake()
        await until_heartbeat(dispatcher, 1_001.0)
        assert not world.servicenow.is_set()
        # The outcome's claim ends: its slots are free again, and the loop, woken, starts the sync.
        store.go_on.set()
        assert await within_seconds(world.servicenow, 10.0)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        monkeypatch.undo()
        await store.close()


async def test_stopping_while_an_outcome_claims_leaves_what_it_claimed_to_the_other_replicas(tmp_path: Path) -> None:
    store = SlowOutcomes(tmp_path / "d.db")
    await store.open()
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    dispatcher = Dispatcher(store, World(), clock, Metrics(), concurrency=1, owner="stopping")
    await store.queue_effect(PostTimelineEntry("Q1", "n1"), now=1_000.0)
    await store.queue_effect(PostTimelineEntry("Q1", "n2"), now=1_000.0)
    running = asyncio.create_task(dispatcher.run())
    try:
        # The first line is posted; its outcome is recorded and its claim has taken the second line.
        await store.recorded.wait()
        assert await store.due_effects(now=1_000.0, limit=10, busy=[]) == []  # leased to "stopping"
    finally:
        running.cancel()  # the dispatcher stops before its outcome's call answers; the call answers during the stop
        await asyncio.sleep(0.05)
        store.go_on.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    try:
        # Never started here, the second line is offered to another replica at once, not after its lease.
        [second] = await store.due_effects(now=1_000.0, limit=10, busy=[])
        assert second.effect == PostTimelineEntry("Q1", "n2")
        assert await store.claim_effect(second.seq, owner="another", now=1_000.0, lease_seconds=60.0)
    finally:
        await store.close()


class TicketsWithFollowUps:
    """Slack answers at once; a ticket's sync waits for `ticket_go`, then asks for a status update to be published
    (PagerDuty's lane) once it is done."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.ticket_go = asyncio.Event()
        self.ticket_done = asyncio.Event()
        self.published = asyncio.Event()

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        if effect.system == "servicenow":
            await self.ticket_go.wait()
            await follow_up(self.store, PublishStatusUpdate("Q3", "u1"), 1_000.0)
        elif effect.system == "pagerduty":
            self.published.set()

    async def after_done(self, effect: Effect) -> None:
        if effect.system == "servicenow":
            self.ticket_done.set()


async def test_a_follow_up_to_a_lane_another_outcome_holds_is_not_lost(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "time", lambda: 0.0)  # no timer fires: the loop's own next look never comes
    store = SlowOutcomes(tmp_path / "d.db")
    await store.open()
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    world = TicketsWithFollowUps(store)
    dispatcher = Dispatcher(store, world, clock, Metrics(), concurrency=1)
    await store.queue_effect(PostTimelineEntry("Q1", "n1"), now=1_000.0)
    await store.queue_effect(SyncTicket("Q2"), now=1_000.0)
    running = asyncio.create_task(dispatcher.run())
    try:
        # The line is posted; its outcome's claim (holding PagerDuty's free slot) has read the store: nothing due.
        await store.recorded.wait()
        # The sync ends meanwhile and asks for a status update: PagerDuty's slot is held, so its claim cannot take
        # it, and the line's claim read the store before it was queued.
        world.ticket_go.set()
        await world.ticket_done.wait()
        store.go_on.set()
        assert await within_seconds(world.published, 10.0)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        monkeypatch.undo()
        await store.close()
