"""The archiving job runs every 10 minutes and finds every incident resolved in the last 30 days due: it used to
claim each one again (an urgent-priority store write, ahead of the deliveries being recorded) on every run, for
channels archived weeks ago. Claims made by earlier runs are now read in one go, and only new ones are claimed —
still once across replicas, which the claim decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from bot.domain.effects import Effect
from bot.services.archiving import ArchiveStore, Archiving
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, incident_channels, move_clock, settle, trigger

BEN = "ben.okafor@example.com"


class CountedClaims:
    """The bot's own store, counting the claims (`first_time`, with its effect or not) asked of it."""

    def __init__(self, store: Any) -> None:
        self.store, self.claims = store, 0

    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        self.claims += 1
        result: bool = await self.store.first_time(key, window_seconds, now)
        return result

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        self.claims += 1
        result: bool = await self.store.first_time_then_queue(key, window_seconds, now, effect, priority)
        return result

    async def still_seen(self, keys: Sequence[str], now: float) -> set[str]:
        seen: set[str] = await self.store.still_seen(keys, now)
        return seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_a_run_claims_nothing_for_channels_earlier_runs_queued(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, title="Checkout returns 500s")
    await act(sandbox, incident["id"], "resolve", user=BEN)
    await settle(sandbox)
    due = sandbox.sandbox.clock.now() + timedelta(days=7, minutes=5)
    await move_clock(sandbox, to=due.isoformat())  # the bot's run finds it due and queues its archiving
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["is_archived"]
    bot = sandbox.bot
    counted = CountedClaims(bot.store)
    archiving = Archiving(cast(ArchiveStore, counted), bot.chat, bot.reviews, bot.catalogue, bot.clock, lambda: None)
    for _ in range(3):  # later runs, 10 minutes apart
        sandbox.sandbox.clock.advance(timedelta(minutes=10))
        assert await archiving.queue_due() == 0
    assert counted.claims == 0
    # A resolution newly due is still claimed, once.
    second = await trigger(sandbox, title="Refunds slow")
    await act(sandbox, second["id"], "resolve", user=BEN)
    await settle(sandbox)
    sandbox.sandbox.clock.advance(timedelta(days=7, minutes=5))
    assert await archiving.queue_due() == 1
    assert await archiving.queue_due() == 0
    assert counted.claims == 1
