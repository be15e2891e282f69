"""How the bot stops, within Kubernetes' grace period: how long the work already acknowledged gets to finish
(`DRAIN_SECONDS`), the people whose work the stop cut short told so (`tell_cut_short`, within `TELL_SECONDS`), and the
background loops ended for sure (`end_loops`). `Bot.stop` (bot/app/runtime.py) runs these among its steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.domain.effects.slack import TellPerson
from bot.ports import Clock
from bot.ports.store import Outbox
from commands.in_flight import Cut

log = logging.getLogger(__name__)
# How long a stop (SIGTERM: a deploy, a restart) gives the commands, clicks and forms already acknowledged to finish
# and answer before it cuts them short (commands/in_flight.py): a PagerDuty call under way ends by its own timeout
# (10 s, bot/adapters/pagerduty/paging.py), with time left for the next call of a two-step action (a resolve's note)
# and for the answer to reach Slack. Kubernetes kills the pod terminationGracePeriodSeconds after it begins to stop
# it (45 in deploy/kubernetes/deployment.yaml), and that holds, one after the other: the preStop hook's 5 s, the web
# server's wait for requests in flight (bot/app/web.py HTTP_SHUTDOWN_SECONDS, 5), over Socket Mode the answers Slack
# waits for (ACK_SECONDS, 3), this drain (the loops stop meanwhile, within the dispatcher's 11 s at worst) and
# closing the clients and the store (a PagerDuty thread up to its 10 s timeout), with the second the work cut short
# gets to end (commands/in_flight.py CANCELLED_END_SECONDS) and the one its people's notices get to be queued
# (TELL_SECONDS): 5 + 5 + 3 + 20 + 1 + 1 + 10 = 45 <= 45. tests/deploy/test_kubernetes.py holds the manifest to that.
DRAIN_SECONDS = 20.0
# How long the stop gives the notices of work cut short to be queued in the outbox (a store gone silent must not hold
# the stop past Kubernetes' grace period: those people are then left to the drain's log lines).
TELL_SECONDS = 1.0


async def tell_cut_short(store: Outbox, clock: Clock, cut: list[Cut]) -> None:
    """The people whose command, click or form the stop cut short (or never started) are told so, through the
    outbox: another replica sends it now, or this one once restarted. A store failing here leaves the log line
    the drain wrote as the only trace."""
    told = [(piece.work, notice) for piece in cut if (notice := piece.notice()) is not None]
    try:
        async with asyncio.timeout(TELL_SECONDS):
            for work, notice in told:
                await store.queue_effect(TellPerson(f"person:{work.user}", work.user, notice),
                                         clock.now().timestamp())
                told = told[1:]
    except Exception:  # TimeoutError included
        log.warning("stopping: %d person(s) whose work was cut short could not be queued to be told so (%s); "
                    "the lines above name them", len(told), ", ".join(str(w) for w, _ in told), exc_info=True)


async def end_loops(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background loops (the worker or the applier, the dispatcher, the watchers) and wait until each has
    ended."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        # A cancellation can be lost (Python 3.11's asyncio.wait_for drops it when the wait it guards ends at the
        # same moment), and the loop would go on for ever: cancel again until it has ended.
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
