"""A handover that went out before its boundary is not "(late)", whatever its claim said: the bot's clock ahead of
Slack's (a machine's clock put back since, a replica's skew) claimed it minutes after its boundary, but Slack's
timestamp, which says when it went out, is before it. A lateness below zero is not late."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, move_clock, state
from tests.helpers import StartSandbox

# Slow retries: the lost post's retry comes a minute after it, by the bot's clock.
EVERY_MINUTE = RetryPolicy(max_attempts=50, base_seconds=60, max_seconds=60)
BOUNDARY = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
SLACK_BEHIND_SECONDS = 600


def every_handover(running: RunningSandbox) -> list[dict[str, Any]]:
    return [m for m in state(running)["slack"]["messages"]
            if m["text"].startswith("*Handover") and not m["ephemeral_to"]]


async def test_a_post_slack_says_went_out_before_its_boundary_is_not_marked_late(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC), retry_policy=EVERY_MINUTE)
    sandbox = running.sandbox
    # Slack's clock ten minutes behind the bot's: Slack stamps what it is told now with its own time.
    sandbox.slack.clock = lambda: sandbox.clock.timestamp() - SLACK_BEHIND_SECONDS
    # The post goes out, and its answer is lost (a 500 after Slack acted): the retry finds it by its marker.
    sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=500, times=1, after=True))
    await move_clock(running, to="2026-11-27T17:35:05+00:00")  # the bot finds the 17:30 handover five minutes old
    await move_clock(running, to="2026-11-27T17:36:30+00:00")
    await eventually(lambda: any(m.get("edited") for m in every_handover(running)), within=40)
    [post] = [m for m in every_handover(running) if m.get("edited")]
    assert datetime.fromtimestamp(float(post["ts"]), UTC) < BOUNDARY  # Slack says it went out before its boundary
    first = post["text"].splitlines()[0]
    assert not first.endswith("(late)"), first
