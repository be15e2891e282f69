"""The repeat guard when the bot stops (FollowUps.close() cancels the worker running a command) just as an action
has been answered: the lease's renewal is being waited for, and the cancellation lands there. The action was done
(or may have been): its key must not be forgotten, or the same request sent again at once acts twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.errors import OutcomeUnknown
from commands.repeats import UNDER_WAY_LEASE_SECONDS, Repeats


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
