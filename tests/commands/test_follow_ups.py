"""The answers' worker queues: work queued but never started is dropped at close without a coroutine left unawaited;
answers are worked on together, never behind background work."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Awaitable, Callable

from commands.answers import FollowUps


async def test_work_never_started_is_dropped_at_close_without_an_unawaited_coroutine() -> None:
    started: list[str] = []

    async def inner() -> None:
        started.append("inner")

    async def outer() -> None:
        await inner()

    follow_ups = FollowUps(workers=1)
    for _ in range(5):
        follow_ups.follow_up(outer)  # no worker has run yet: all five are still queued at close
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await follow_ups.close()
        gc.collect()
    assert started == []


async def test_answers_do_not_wait_behind_background_work_nor_behind_each_other() -> None:
    homes_may_finish = asyncio.Event()
    answered: list[int] = []
    all_answering = asyncio.Event()

    async def publish_home() -> None:  # slow background work nobody waits for
        await homes_may_finish.wait()

    def answer(n: int) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            answered.append(n)
            if len(answered) == 20:
                all_answering.set()
            await all_answering.wait()  # each answer waits (for the store, for Slack) while the others start
        return work

    follow_ups = FollowUps()
    try:
        for _ in range(50):
            follow_ups.in_background(publish_home)
        for n in range(20):
            follow_ups.follow_up(answer(n))
        async with asyncio.timeout(5):
            await all_answering.wait()
        assert sorted(answered) == list(range(20))
    finally:
        homes_may_finish.set()
        await follow_ups.close()
