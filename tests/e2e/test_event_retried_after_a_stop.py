"""Slack's retry of an event, through the sandbox's Slack: a rolling deploy stops the replica that took an @mention
while its answer is still on its way to Slack, and cuts it short. Slack sends the event again (X-Slack-Retry-Num),
to the other replica: it is answered there, not dropped as a repeat of work never done. A retry of an event that
was answered is still ignored.

Slack sends a retry when its delivery got no 2xx within 3 seconds: the replica that took the event and marked it
died, or its answer was lost, before it was done. The test cannot kill a replica between its mark and its ack, so
the first replica's work is cut short by its stop instead: what matters, the mark left by work that was never done,
is the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.slack.person import deliver_envelope, event_envelope, post_as_person
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, incident_channels, state, trigger
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
# Longer than the test needs the first replica's answer held; the test ends the hold itself.
HELD_MS = 8000
SHORT_DRAIN_SECONDS = 0.3


@pytest.fixture
async def first(start_sandbox: StartSandbox) -> AsyncIterator[RunningSandbox]:
    """The sandbox and its bot: the replica the event reaches first, stopped by the test."""
    running = await start_sandbox()
    running.bot.drain_seconds = SHORT_DRAIN_SECONDS
    yield running
    await running.stop()


@pytest.fixture
async def second(first: RunningSandbox, catalogue: Catalogue) -> AsyncIterator[tuple[Bot, str]]:
    """Another replica on the same store, behind its own HTTP server: its Slack listeners run, its loops do not (the
    first replica's do, until it stops). Its events URL."""
    bot = Bot(first.bot.settings, catalogue, clock=first.bot.clock, replica_id="second-replica")
    await bot.store.open()
    server = TestServer(build_web_app(bot, manage_lifecycle=False, socket_mode=False))
    await server.start_server()
    yield bot, str(server.make_url("/slack/events"))
    await server.close()
    await bot.stop()


def replies(running: RunningSandbox, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in state(running)["slack"]["messages"] if m["channel"] == channel and m["thread_ts"] == ts]


async def test_an_event_cut_short_by_a_stop_is_answered_when_slack_retries_it_to_another_replica(
        first: RunningSandbox, second: tuple[Bot, str]) -> None:
    other, other_url = second
    slack, faults = first.sandbox.slack, first.sandbox.faults
    await trigger(first, "Checkout returns 500s", "PBASKET")
    [channel] = incident_channels(first)
    await eventually(lambda: first.bot.home.publishing == 0)
    posted = post_as_person(slack, ASHA, channel["id"], "@pavedroad help")
    [mention] = [e for e in posted.events if e["type"] == "app_mention"]
    envelope = event_envelope(slack, mention)
    held = Fault("slack", "chat.postMessage", times=0, latency_ms=HELD_MS)
    faults.add(held)
    try:
        assert (await deliver_envelope(slack, envelope))["status"] == 200
        await eventually(lambda: faults.held["slack"] == 1)  # its answer on its way, held
        await first.bot.stop()  # SIGTERM: the answer outlasts the drain and is cut short
        # Slack's retry reaches the replica still running; the first one's held answer stays held meanwhile.
        faults.rules.remove(held)
        slack.bot_events_url = other_url
        assert (await deliver_envelope(slack, envelope, retry=1))["status"] == 200
        await eventually(lambda: not other.in_flight.under_way_now())
        assert len(replies(first, channel["id"], posted.message.ts)) == 1, "the retry was dropped: nobody answered"
        # Answered now: a further retry of it is ignored.
        assert (await deliver_envelope(slack, envelope, retry=2, reason="http_error"))["status"] == 200
        await eventually(lambda: not other.in_flight.under_way_now())
        assert len(replies(first, channel["id"], posted.message.ts)) == 1
    finally:
        if held in faults.rules:
            faults.rules.remove(held)
        faults.add(Fault("slack", "chat.postMessage", status=500, times=1))  # the cut-short answer, if it still waits
        faults.release_held()
