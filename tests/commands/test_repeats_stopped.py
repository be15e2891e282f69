"""The repeat guard when the bot stops (FollowUps.close() cancels the worker running a command) just as an action
has been answered: the lease's renewal is being waited for, and the cancellation lands there. The action was done
(or may have been): its key must not be forgotten, or the same request sent again at once acts twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.errors import OutcomeUnknown
from commands.repeats import POSTED_WINDOW_SECONDS, UNDER_WAY_LEASE_SECONDS, Repeats


class SlowRenewalStore(SqliteStore):
    """The real store, whose renewals of a lease under way take a while (a busy store)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.renewing = asyncio.Event()

    async def remember(self, key: str, window_seconds: float, now: float) -> None:
        if window_seconds == UNDER_WAY_LEASE_SECONDS:
            self.renewing.set()
            await asyncio.sleep(0.5)
        await super().remember(key, window_seconds, now)


@pytest.mark.parametrize("answer", ["paged", "unknown"])
async def test_a_stop_landing_while_the_renewal_is_waited_for_never_forgets_an_action_done(
        tmp_path: Path, answer: str) -> None:
    clock = SettableClock(frozen=True)
    store = SlowRenewalStore(tmp_path / "shared.db")
    await store.open()
    try:
        repeats = Repeats(store, clock, renew_every=0)

        async def page() -> str:
            await store.renewing.wait()  # PagerDuty answers while a renewal is writing
            if answer == "unknown":
                raise OutcomeUnknown("PagerDuty did not answer properly, so it may or may not have done it.")
            return "paged"

        first = asyncio.create_task(repeats.command_once(page, "U1", "page-im", "decide", "P1"))
        await store.renewing.wait()
        for _ in range(5):  # the action has answered; its renewal is being waited for
            await asyncio.sleep(0)
        assert not first.done()
        first.cancel()  # the bot stops: FollowUps.close()
        with pytest.raises((asyncio.CancelledError, OutcomeUnknown)):
            await first

        async def paged_again() -> str:
            return "paged twice"
        assert await repeats.command_once(paged_again, "U1", "page-im", "decide", "P1") is None
    finally:
        await store.close()


def _after_turns(loop: asyncio.AbstractEventLoop, turns: int, fn: Callable[[], object]) -> None:
    if turns == 0:
        fn()
    else:
        loop.call_soon(_after_turns, loop, turns - 1, fn)


async def test_a_stop_landing_just_as_the_action_answers_is_never_lost(tmp_path: Path) -> None:
    """FollowUps.close() cancels each worker once and waits for them: a cancellation the repeat guard drops (Python
    3.11's asyncio.wait_for did, in the renewal's wait, for a few turns of the loop after the answer) leaves the worker
    waiting for its next command, and the bot's stop waits for ever."""
    store = SqliteStore(tmp_path / "shared.db")
    await store.open()
    try:
        repeats = Repeats(store, SettableClock(frozen=True), renew_every=60)
        loop = asyncio.get_running_loop()
        def answering_then_cancelled(turns: int, tasks: list[asyncio.Task[str | None]]) -> Callable[[], Any]:
            async def page() -> str:
                _after_turns(loop, turns, lambda: tasks[0].cancel())
                return "paged"
            return page

        for turns in range(6):  # the cancellation lands this many turns of the loop after the answer
            tasks: list[asyncio.Task[str | None]] = []
            page = answering_then_cancelled(turns, tasks)
            tasks.append(asyncio.create_task(repeats.command_once(page, "U1", "page-im", str(turns), "P1")))
            with pytest.raises(asyncio.CancelledError):
                await tasks[0]
    finally:
        await store.close()


async def test_a_stop_landing_while_the_action_is_under_way_keeps_its_lease(tmp_path: Path) -> None:
    """Cancelled mid-action (the bot stopping while PagerDuty is being asked): the call may still be carried out (the
    PagerDuty client runs on a thread pool, which a cancellation does not stop), so the same request sent again at
    once is not acted on; once the lease has run out, it is."""
    clock = SettableClock(frozen=True)
    store = SqliteStore(tmp_path / "shared.db")
    await store.open()
    try:
        repeats = Repeats(store, clock, renew_every=60)
        sent = asyncio.Event()

        async def page() -> str:
            sent.set()
            await asyncio.Event().wait()  # PagerDuty is slow to answer
            return "paged"

        first = asyncio.create_task(repeats.command_once(page, "U1", "page-im", "decide", "P1"))
        await sent.wait()
        first.cancel()  # the bot stops: FollowUps.close()
        with pytest.raises(asyncio.CancelledError):
            await first

        async def paged_again() -> str:
            return "paged again"
        assert await repeats.command_once(paged_again, "U1", "page-im", "decide", "P1") is None
        clock.advance(timedelta(seconds=UNDER_WAY_LEASE_SECONDS + 1))
        assert await repeats.command_once(paged_again, "U1", "page-im", "decide", "P1") == "paged again"
    finally:
        await store.close()


async def test_a_post_for_everyone_cut_short_by_a_stop_is_not_taken_as_posted(tmp_path: Path) -> None:
    """The handover so far being posted (`post_once`) when the bot stops: it keeps only its lease, never the window of
    a post made, so that the next person to ask once the lease has run out posts it, well within that window."""
    clock = SettableClock(frozen=True)
    store = SqliteStore(tmp_path / "shared.db")
    await store.open()
    try:
        repeats = Repeats(store, clock, renew_every=60)
        sent = asyncio.Event()

        async def post() -> str:
            sent.set()
            await asyncio.Event().wait()  # Slack is slow to answer
            return "posted"

        first = asyncio.create_task(repeats.post_once(post, "handover-so-far:payments:2026-11-25T09:00"))
        await sent.wait()
        first.cancel()  # the bot stops
        with pytest.raises(asyncio.CancelledError):
            await first

        async def posted_now() -> str:
            return "posted now"
        clock.advance(timedelta(seconds=UNDER_WAY_LEASE_SECONDS + 1))
        assert UNDER_WAY_LEASE_SECONDS + 1 < POSTED_WINDOW_SECONDS
        assert await repeats.post_once(posted_now, "handover-so-far:payments:2026-11-25T09:00") == "posted now"
    finally:
        await store.close()
