"""A deadline on a block of work with PostgreSQL: past it, what the block awaits of the database is cancelled and it
fails as a lost connection does ("the database did not answer within N s"), so that a database that hangs rather than
goes (its processes stalled on storage, its virtual machine frozen: connections open, nothing answered, which TCP
cannot tell) holds a caller up for seconds, not for ever.

psycopg, cancelled, cancels the query and closes a connection whose server does not confirm it within seconds. The
deadline can also land outside psycopg's waits (the applier yielding between rows); the cleanup it then sets off (a
ROLLBACK) would wait on the hung server without end, so the block is cancelled again `CLEANUP_SECONDS` later, and the
extra cancellations are taken back (`task.uncancel()`), so that a cancellation from outside (the bot stopping) still
reaches the caller as one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import psycopg

# How long after its deadline a block's cleanup may still wait on the database before it is cancelled again.
CLEANUP_SECONDS = 2.0


@contextlib.asynccontextmanager
async def answered_within(seconds: float, *, said: float | None = None,
                          on_expiry: Callable[[], None] | None = None) -> AsyncIterator[Callable[[float | None], None]]:
    """The block must be done within `seconds`; what it is given sets its deadline anew, that many seconds from
    now (None: none, for a step that takes as long as it takes — a migration). Past the deadline, the block fails with
    psycopg.OperationalError "the database did not answer within {N}s" (N: `said` unless the deadline was set
    anew since, else `seconds`), after `on_expiry` is called."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None, "a deadline needs a task to cancel"
    baseline = task.cancelling()
    deadline = asyncio.timeout_at(loop.time() + seconds)
    nudged, allowed = False, seconds if said is None else said

    def nudge() -> None:
        nonlocal nudged
        nudged = True
        task.cancel()

    watchdog = loop.call_at(loop.time() + seconds + CLEANUP_SECONDS, nudge)

    def move(more: float | None) -> None:
        nonlocal watchdog, allowed
        if deadline.expired():  # (a cleanup step, after it: the block is failing already)
            return
        watchdog.cancel()
        if more is None:
            deadline.reschedule(None)
            return
        allowed = more
        watchdog = loop.call_at(loop.time() + more + CLEANUP_SECONDS, nudge)
        deadline.reschedule(loop.time() + more)

    try:
        async with deadline:
            yield move
    except (asyncio.CancelledError, TimeoutError, psycopg.Error) as error:
        # Ours (the deadline's cancellation, and the nudge's) are taken back; any other stays the task's.
        ours = not nudged or task.uncancel() <= baseline
        if not deadline.expired() or not ours or (isinstance(error, asyncio.CancelledError) and not nudged):
            raise
        if on_expiry is not None:
            on_expiry()
        raise psycopg.OperationalError(f"the database did not answer within {allowed:g}s") from None
    finally:
        watchdog.cancel()
