"""The answers' worker queue: work queued but never started is dropped at close without a coroutine left unawaited."""

from __future__ import annotations

import gc
import warnings

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
