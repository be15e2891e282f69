"""Store calls that outlast a cancellation: what an effect learnt, or its outcome, being recorded as the dispatcher
stops (Bot.stop cancels its loops again and again until they end). Lost there, an effect done outside would be done
again after the restart; waited for without a bound, a store that does not answer would hang the stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


def started(call: Awaitable[T], running: set[asyncio.Future[Any]]) -> asyncio.Future[T]:
    """The call, started, and in `running` until it has ended — past a caller that stopped waiting for it."""
    future = asyncio.ensure_future(call)
    running.add(future)
    future.add_done_callback(running.discard)
    return future


async def carried_through(call: Awaitable[T], within: float) -> T:
    """The call's result, carried through a cancellation: then the cancellation goes on once the call has ended
    (`within` seconds at most; past them the call is left running, not cancelled)."""
    recording = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(recording)
    except asyncio.CancelledError:
        await outlasting_cancellation(recording, within)
        raise


async def outlasting_cancellation(work: asyncio.Future[Any], within: float) -> bool:
    """Wait for `work` to end even while this task is being cancelled (again and again), for `within` seconds at
    most; whether it ended. `work` is never cancelled here: the caller decides, and the cancellation goes on when the
    caller re-raises it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not work.done() and (left := deadline - loop.time()) > 0:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({work}, timeout=left)
    return work.done()
