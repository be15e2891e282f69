"""The archiving job claims a resolution's archiving, then queues it: two writes. A run cancelled between them — the
scheduler stopping a run stuck past its bound, or the bot's stop — used to leave the claim without its effect (the
claim made, its answer on its way back when the cancellation came): every later run read it as claimed, and the
channel stayed open for the claim's year, nothing logged. Or the effect was queued and its claim forgotten, so the
next run queued it again. The pair is now carried through the cancellation together."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest

from bot.domain.effects import Effect
from bot.services.archiving import ArchiveStore, Archiving
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, incident_channels, settle, trigger

BEN = "ben.okafor@example.com"


class AnswerHeldUp:
    """The bot's own store, whose answer to one kind of call (`held`) is held up after the call is done — as when
    the store committed and its answer is on its way back — until the test lets it through."""

    def __init__(self, store: Any, held: str) -> None:
        self.store, self.held = store, held
        self.done, self.let_through = asyncio.Event(), asyncio.Event()

    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        claimed: bool = await self.store.first_time(key, window_seconds, now)
        await self._hold("first_time")
        return claimed

    async def queue_effect(self, effect: Effect, now: float, priority: int = 1) -> None:
        await self.store.queue_effect(effect, now, priority)
        await self._hold("queue_effect")

    async def _hold(self, call: str) -> None:
        if call == self.held:
            self.done.set()
            await self.let_through.wait()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def a_run_cancelled_after(sandbox: RunningSandbox, call: str) -> Archiving:
    """An incident resolved a week ago, and an archiving run cancelled once its `call` is done but not answered;
    the archiving (over the bot's own store) for the runs after it."""
    incident = await trigger(sandbox, title="Checkout returns 500s")
    await act(sandbox, incident["id"], "resolve", user=BEN)
    await settle(sandbox)
    sandbox.sandbox.clock.advance(timedelta(days=7, minutes=5))
    bot = sandbox.bot
    held = AnswerHeldUp(bot.store, call)
    run = asyncio.create_task(Archiving(cast(ArchiveStore, held), bot.chat, bot.reviews, bot.catalogue, bot.clock,
                                        lambda: None).queue_due())
    await asyncio.wait_for(held.done.wait(), timeout=10)
    run.cancel()
    held.let_through.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, timeout=10)
    return Archiving(cast(ArchiveStore, bot.store), bot.chat, bot.reviews, bot.catalogue, bot.clock, lambda: None)


async def test_a_run_cancelled_once_its_claim_is_made_still_has_the_channel_archived(
        sandbox: RunningSandbox) -> None:
    later = await a_run_cancelled_after(sandbox, "first_time")
    await later.queue_due()  # the next run, 10 minutes on
    sandbox.bot.dispatcher.wake()
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["is_archived"], "the claim was left without its queued archiving"


async def test_a_run_cancelled_once_its_archiving_is_queued_keeps_the_claim(sandbox: RunningSandbox) -> None:
    later = await a_run_cancelled_after(sandbox, "queue_effect")
    assert await later.queue_due() == 0, "the claim was forgotten though its archiving was queued: queued twice"
    sandbox.bot.dispatcher.wake()
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["is_archived"]
