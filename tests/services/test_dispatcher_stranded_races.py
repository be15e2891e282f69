"""Freeing stranded leases (`Leases.free_stranded`) against the claims around it, found in review of the commit that
brought it in:
- effects a claim had just taken, their tasks created but not yet running, were not counted as running here: the
  loop, woken while it claimed (an effect whose outcome the store refused ended meanwhile), went straight to its next
  claim and freed their leases — another replica then took them and performed them a second time;
- nor were those an outcome's claim had taken while its answer was on its way back (the store call ended, the effect's
  task not yet resumed): a loop woken just then freed them;
- an outcome the store refused while the release was on its way was forgotten as that release ended (its lease had
  been kept, the effect still running): it waited out its lease again;
- `start_due` beside the loop claimed while the loop's release was on its way, and that release freed what it took.

The store is the real SQLite store; its outcomes, claims and releases fail or wait as each test says. The clock is
frozen: no lease ever runs out by itself here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.slack import OpenIncidentChannel
from bot.metrics import Metrics
from bot.ports.store import ClaimedEffects, IncidentInSlack, OutboxRow
from bot.services.dispatcher import Dispatcher
from tests.helpers import rows


class Gated(SqliteStore):
    """The real store. `refuse` effect outcomes fail (the database gone for a moment); with `hold_outcome`, the next
    outcome waits for `outcome_go` (`outcome`: it waits), and calls `on_answer` as it ends; while `hold_claims` is set a
    claim of the loop waits for `claim_go` (`claiming`: one waits); the next `hold_release` releases of leases wait for
    `release_go` (`releasing`: one waits)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.file = path
        self.refuse = 0
        self.refused = asyncio.Event()
        self.hold_claims, self.hold_release = False, 0
        self.claiming, self.claim_go = asyncio.Event(), asyncio.Event()
        self.releasing, self.release_go = asyncio.Event(), asyncio.Event()
        self.hold_outcome, self.on_answer = False, lambda: None
        self.outcome, self.outcome_go = asyncio.Event(), asyncio.Event()

    async def effect_done_then_claim(self, *args: Any, **kwargs: Any) -> ClaimedEffects[OutboxRow] | None:
        if self.refuse:
            self.refuse -= 1
            self.refused.set()
            raise OSError("the database is restarting")
        if self.hold_outcome:
            self.hold_outcome = False
            self.outcome.set()
            await self.outcome_go.wait()
            answer = await super().effect_done_then_claim(*args, **kwargs)
            asyncio.get_running_loop().call_soon(self.on_answer)  # just as the call ends, before its caller resumes
            return answer
        return await super().effect_done_then_claim(*args, **kwargs)

    async def claim_due_effects(self, *args: Any, **kwargs: Any) -> ClaimedEffects[OutboxRow]:
        if self.hold_claims:
            self.claiming.set()
            await self.claim_go.wait()
        return await super().claim_due_effects(*args, **kwargs)

    async def release_leases(self, owner: str, keep: Sequence[int] = ()) -> int:
        if self.hold_release:
            self.hold_release -= 1
            self.releasing.set()
            await self.release_go.wait()
        return await super().release_leases(owner, keep)


class Hanging:
    """The outside world: every call is counted; a call for an incident in `hang` waits for its `answer`."""

    def __init__(self, *hang: str) -> None:
        self.performed: list[tuple[str, bool]] = []
        self.calling: Mapping[str, asyncio.Event] = {incident: asyncio.Event() for incident in hang}
        self.answer: Mapping[str, asyncio.Event] = {incident: asyncio.Event() for incident in hang}

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append((effect.incident_id, retry))
        if effect.incident_id in self.calling:
            self.calling[effect.incident_id].set()
            await self.answer[effect.incident_id].wait()

    async def after_done(self, effect: Effect) -> None:
        return None


def frozen() -> SettableClock:
    return SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)


def owner_of(store: Gated, incident: str) -> Any:
    return rows(store.file, f"SELECT lease_owner FROM outbox WHERE incident_id='{incident}'")[0]["lease_owner"]


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = Gated(tmp_path / "d.db")
    await s.open()
    yield s
    await s.close()


async def stopped(running: asyncio.Task[None]) -> None:
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def test_effects_the_loop_just_claimed_keep_their_leases_when_its_next_claim_frees_stranded_ones(
        store: Gated) -> None:
    await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    world = Hanging("Q1", "Q2")
    d = Dispatcher(store, world, frozen(), Metrics(), owner="replica-1")
    running = asyncio.create_task(d.run())
    try:
        await asyncio.wait_for(world.calling["Q1"].wait(), 5)
        await store.queue_effect(OpenIncidentChannel("Q2"), now=1_000.0)
        store.hold_claims = True
        d.wake()
        await asyncio.wait_for(store.claiming.wait(), 5)  # the loop's claim, which takes Q2, is under way
        store.refuse = 1
        world.answer["Q1"].set()  # Q1 is done outside; the store refuses its outcome; its end wakes the loop
        await asyncio.wait_for(store.refused.wait(), 5)
        await asyncio.sleep(0.05)
        store.hold_claims = False
        store.claim_go.set()  # Q2 is claimed and started; the loop, woken, claims again at once
        await asyncio.wait_for(world.calling["Q2"].wait(), 5)
        await asyncio.sleep(0.05)
        # Q2 is mid-call here: its lease is this dispatcher's, and no other replica takes it.
        assert owner_of(store, "Q2") == "replica-1"
        other = Dispatcher(store, Hanging(), frozen(), Metrics(), owner="replica-2")
        await other.start_due()
        await other.finish_in_flight()
        world.answer["Q2"].set()
        await asyncio.sleep(0.05)
    finally:
        for answer in world.answer.values():
            answer.set()
        await stopped(running)
    assert sorted(world.performed) == [("Q1", False), ("Q1", True), ("Q2", False)]


async def test_what_an_outcome_claimed_keeps_its_lease_while_the_answer_is_on_its_way_back(store: Gated) -> None:
    for incident in ("Q1", "Q2"):
        await store.queue_effect(OpenIncidentChannel(incident), now=1_000.0)
    world = Hanging("Q1", "Q3")
    d = Dispatcher(store, world, frozen(), Metrics(), owner="replica-1", concurrency=2)
    store.hold_outcome, store.on_answer = True, d.wake
    running = asyncio.create_task(d.run())
    try:
        await asyncio.wait_for(asyncio.gather(world.calling["Q1"].wait(), store.outcome.wait()), 5)
        store.refuse = 1
        world.answer["Q1"].set()  # Q1's outcome is refused while Q2's is on its way: its lease waits for it
        await asyncio.wait_for(store.refused.wait(), 5)
        await asyncio.sleep(0.05)  # the loop, woken by Q1's end, claims nothing, and sleeps
        await store.queue_effect(OpenIncidentChannel("Q3"), now=1_000.0)
        store.outcome_go.set()  # Q2's outcome claims Q3; the loop is woken as the answer comes back
        await asyncio.wait_for(world.calling["Q3"].wait(), 5)
        await asyncio.sleep(0.05)
        assert owner_of(store, "Q3") == "replica-1"  # mid-call here
        other = Dispatcher(store, Hanging(), frozen(), Metrics(), owner="replica-2")
        await other.start_due()
        await other.finish_in_flight()
    finally:
        for answer in world.answer.values():
            answer.set()
        await asyncio.sleep(0.05)
        await stopped(running)
    assert sorted(world.performed) == [("Q1", False), ("Q1", True), ("Q2", False), ("Q3", False)]


async def test_an_outcome_refused_while_the_release_is_on_its_way_is_freed_at_a_later_claim(store: Gated) -> None:
    for incident in ("Q1", "Q2"):
        await store.queue_effect(OpenIncidentChannel(incident), now=1_000.0)
    world = Hanging("Q2")
    d = Dispatcher(store, world, frozen(), Metrics(), owner="replica-1")
    store.refuse = 1
    assert await d.start_due() == 2
    await asyncio.wait_for(world.calling["Q2"].wait(), 5)
    await asyncio.wait_for(store.refused.wait(), 5)  # Q1's outcome is refused; Q2 is still mid-call
    await asyncio.sleep(0.05)
    store.hold_release, store.refused = 1, asyncio.Event()
    claim = asyncio.create_task(d.start_due())  # frees Q1's lease, keeps Q2's
    await asyncio.wait_for(store.releasing.wait(), 5)
    store.refuse = 1
    world.answer["Q2"].set()  # Q2 is done outside; the store refuses its outcome too, while the release is on its way
    await asyncio.wait_for(store.refused.wait(), 5)
    await asyncio.sleep(0.05)
    store.release_go.set()
    await claim  # Q1 again
    await d.finish_in_flight()
    assert await d.start_due() == 1  # Q2 again, rather than after its lease
    await d.finish_in_flight()
    assert sorted(world.performed) == [("Q1", False), ("Q1", True), ("Q2", False), ("Q2", True)]
    assert [r["state"] for r in rows(store.file, "SELECT state FROM outbox ORDER BY seq")] == ["done", "done"]


async def test_start_due_beside_the_loop_claims_nothing_its_release_frees(store: Gated) -> None:
    await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    world = Hanging("Q2")
    d = Dispatcher(store, world, frozen(), Metrics(), owner="replica-1")
    store.refuse = 1
    assert await d.start_due() == 1
    await d.finish_in_flight()  # Q1's outcome is refused: its lease is stranded
    await store.queue_effect(OpenIncidentChannel("Q2"), now=1_000.0)
    store.hold_release = 1
    first = asyncio.create_task(d.start_due())
    await asyncio.wait_for(store.releasing.wait(), 5)  # its release is on its way
    second = asyncio.create_task(d.start_due())
    await asyncio.sleep(0.05)
    store.release_go.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    await asyncio.wait_for(world.calling["Q2"].wait(), 5)
    assert owner_of(store, "Q2") == "replica-1"  # mid-call here
    other = Dispatcher(store, Hanging(), frozen(), Metrics(), owner="replica-2")
    await other.start_due()
    await other.finish_in_flight()
    world.answer["Q2"].set()
    await d.finish_in_flight()
    assert sorted(world.performed) == [("Q1", False), ("Q1", True), ("Q2", False)]
