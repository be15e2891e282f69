"""Keeps the background loops (worker, dispatcher) alive, and the log readable while one of them keeps failing.

A loop that raises is restarted after `RESTART_SECONDS`. During a database outage it fails on every restart, and a
traceback a second says nothing new after the first: the first failure of an outage is logged with its traceback,
then one line at growing intervals (`FIRST_SUMMARY_SECONDS`, doubling up to `LONGEST_SUMMARY_SECONDS`) with how many
failures there have been and the latest one, and one line when the loop goes round again ("recovered"). Going round
is the loop's own heartbeat moving: a restarted loop that merely waits (for a connection, say) has not recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

RESTART_SECONDS = 1.0
FIRST_SUMMARY_SECONDS = 10.0
LONGEST_SUMMARY_SECONDS = 300.0
# How often a restarted loop's heartbeat is looked at, to log its recovery.
RECOVERY_POLL_SECONDS = 0.1

log = logging.getLogger(__name__)


@dataclass
class Outage:
    """A loop's run of failures: since when, how many, and when the next summary line is due."""

    started: float
    failures: int = 0
    latest: str = ""
    summary_every: float = FIRST_SUMMARY_SECONDS
    next_summary: float = 0.0


async def supervise(name: str, loop: Callable[[], Awaitable[None]], heartbeat: Callable[[], float], *,
                    now: Callable[[], float] = time.monotonic,
                    pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run `loop` for ever, restarting it when it raises. `heartbeat` is the loop's own mark of a round that
    worked; `now` and `pause` are the supervisor's time (monotonic seconds) and its sleep."""
    outage: Outage | None = None
    while True:
        beat_at_restart = heartbeat()
        run = asyncio.ensure_future(loop())
        try:
            if outage is not None:
                while not run.done() and heartbeat() == beat_at_restart:
                    await asyncio.wait({run}, timeout=RECOVERY_POLL_SECONDS)
                if not run.done() or run.exception() is None:
                    log.warning("%s loop recovered after %d failure(s) in %.0fs", name, outage.failures,
                                now() - outage.started)
                    outage = None
            await run
        except asyncio.CancelledError:
            # Stopping: the loop ends before the supervisor does (stop() closes the store next). Awaiting it passes
            # on any further cancellation, as awaiting the loop directly would.
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            raise
        except Exception as error:
            outage = _failed(name, error, outage, now())
            await pause(RESTART_SECONDS)


def _failed(name: str, error: Exception, outage: Outage | None, at: float) -> Outage:
    """Log one failure as its outage's place calls for; the outage, counted."""
    if outage is None:
        log.exception("%s loop failed; restarting it every %gs until it goes round again (a one-line summary "
                      "follows while it keeps failing)", name, RESTART_SECONDS)
        return Outage(started=at, failures=1, latest=_one_line(error), next_summary=at + FIRST_SUMMARY_SECONDS)
    outage.failures += 1
    outage.latest = _one_line(error)
    if at >= outage.next_summary:
        log.error("%s loop still failing: %d failure(s) in %.0fs, the latest %s", name, outage.failures,
                  at - outage.started, outage.latest)
        outage.summary_every = min(outage.summary_every * 2, LONGEST_SUMMARY_SECONDS)
        outage.next_summary = at + outage.summary_every
    return outage


def _one_line(error: Exception) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{error.__class__.__name__}: {first[:200]}" if first else error.__class__.__name__
