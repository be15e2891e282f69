"""The archiving job claims a resolution's archiving and queues it. As two writes, a run cancelled between them — the
scheduler stopping a run stuck past its bound, or the bot's stop — used to leave the claim without its effect (the
claim made, its answer on its way back when the cancellation came): every later run read it as claimed, and the
channel stayed open for the claim's year, nothing logged. Or the effect was queued and its claim forgotten, so the
next run queued it again. Now one transaction (`first_time_then_queue`): a run cancelled while its answer is on its
way leaves both (the call is carried through the cancellation too)."""

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

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        claimed: bool = await self.store.first_time_then_queue(key, window_seconds, now, effect, priority)
        await self._hold("first_time_then_queue")
        return claimed

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


async def test_a_run_cancelled_once_its_claim_and_archiving_are_made_keeps_both(sandbox: RunningSandbox) -> None:
    later = await a_run_cancelled_after(sandbox, "first_time_then_queue")
    assert await later.queue_due() == 0, "the claim was forgotten though its archiving was queued: queued twice"
    sandbox.bot.dispatcher.wake()
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["is_archived"]


class AnswerLost:
    """The bot's own store, whose answer to a claim is lost once the claim is committed (a dropped connection)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def first_time(self, key: str, window_seconds: float, now: float) -> bool:
        await self.store.first_time(key, window_seconds, now)
        raise ConnectionError("the store's answer was lost")

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        await self.store.first_time_then_queue(key, window_seconds, now, effect, priority)
        raise ConnectionError("the store's answer was lost")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_a_claim_whose_answer_was_lost_still_has_the_channel_archived(sandbox: RunningSandbox) -> None:
    """Found in review: the claim's answer lost after it committed (raised before the effect was written, outside
    what forgot the claim) left the claim alone — the channel open for the claim's year."""
    incident = await trigger(sandbox, title="Checkout returns 500s")
    await act(sandbox, incident["id"], "resolve", user=BEN)
    await settle(sandbox)
    sandbox.sandbox.clock.advance(timedelta(days=7, minutes=5))
    bot = sandbox.bot
    lost = Archiving(cast(ArchiveStore, AnswerLost(bot.store)), bot.chat, bot.reviews, bot.catalogue, bot.clock,
                     lambda: None)
    with pytest.raises(ConnectionError):
        await lost.queue_due()
    later = Archiving(cast(ArchiveStore, bot.store), bot.chat, bot.reviews, bot.catalogue, bot.clock, lambda: None)
    await later.queue_due()  # the next run, 10 minutes on
    bot.dispatcher.wake()
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["is_archived"], "a claim with nothing queued held the channel open"
