"""The dispatcher's loop failing (its store down) while an effect done outside has its outcome being recorded, and that
record outlasting the wait the loop's end gives it (a commit stalled): the loop, started again by its supervisor,
must not free that effect's lease while the record is still on its way — it would claim the effect again and do it a
second time outside, and the record, late, be refused or stand beside the second.

The store is the real SQLite store, whose claims and lease releases fail while `down` and whose effect outcome waits
for the test (`go_on`), as a stalled commit would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
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


class StalledOutcomes(SqliteStore):
    """The real store: its lease releases fail while `down`, and so do its claims — once an effect's outcome is on
    its way, as a claim under way fails as the database goes; that outcome starts only once the test lets it
    (`go_on`), `recording` saying that one is on its way and `recorded` that one has ended; `claimed`: a claim has."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.file = path
        self.down = False
        self.claimed, self.recording, self.recorded, self.go_on = (asyncio.Event() for _ in range(4))

    async def claim_due_effects(self, *args: Any, **kwargs: Any) -> ClaimedEffects[OutboxRow]:
        if self.down:
            await self.recording.wait()
            raise OSError("the database is down")
        claimed = await super().claim_due_effects(*args, **kwargs)
        self.claimed.set()
        return claimed

    async def release_leases(self, owner: str, keep: Sequence[int] = ()) -> int:
        if self.down:
            raise OSError("the database is down")
        return await super().release_leases(owner, keep)

    async def effect_done_then_claim(self, *args: Any, **kwargs: Any) -> ClaimedEffects[OutboxRow] | None:
        self.recording.set()
        await self.go_on.wait()
        try:
            return await super().effect_done_then_claim(*args, **kwargs)
        finally:
            self.recorded.set()


class Counting:
    """The outside world: each call succeeds, and is counted; the first answers once the test lets it (`answer`)."""

    def __init__(self) -> None:
        self.performed = 0
        self.calling, self.answer = asyncio.Event(), asyncio.Event()

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed += 1
        self.calling.set()
        await self.answer.wait()

    async def after_done(self, effect: Effect) -> None:
        return None


async def test_a_loop_started_again_leaves_the_lease_of_an_effect_whose_outcome_is_still_being_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatching, "LEARNT_RECORD_SECONDS", 0.05)  # the wait the loop's end gives an outcome
    store, world = StalledOutcomes(tmp_path / "d.db"), Counting()
    await store.open()
    try:
        await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
        d = Dispatcher(store, world, SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True), Metrics(),
                       owner="replica-1")
        running = asyncio.create_task(d.run())
        await world.calling.wait()
        store.down = True
        d.wake()  # the loop claims: its claim fails as the effect, done outside, has its outcome on its way, stalled
        world.answer.set()
        with pytest.raises(OSError):  # its end could not free the leases either
            await running
        store.down = False
        store.claimed.clear()
        running = asyncio.create_task(d.run())  # the supervisor starts the loop again
        async with asyncio.timeout(5):
            await store.claimed.wait()  # it has claimed once
            store.go_on.set()  # the outcome's commit goes through at last
            await d.finish_in_flight()  # (what the loop's claim started, if anything)
            await store.recorded.wait()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        assert world.performed == 1
        assert [r["state"] for r in rows(store.file, "SELECT state FROM outbox")] == ["done"]
    finally:
        await store.close()
