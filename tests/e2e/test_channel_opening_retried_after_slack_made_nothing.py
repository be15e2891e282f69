"""An incident's channel opening retried after Slack made nothing — a 429, or an answer of Slack's own saying it failed
(`service_unavailable`, a 503 page) — listed every live channel first, looking for one an earlier attempt had made and
people had renamed since: in a workspace of 20,000 channels, twenty conversations.list calls (Tier 2: 20 a minute) per
retried opening, and a Slack degradation retrying forty openings ate an hour of that budget. Only a retry after a
conversations.create that went out and got no clear answer (a timeout, a 500/502/504) looks for a renamed channel
(tests/e2e/test_channel_renamed_before_its_opening_retried.py); after these, the retry just creates the channel."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import card, incident_channels, settle
from tests.helpers import StartSandbox


def calls(running: RunningSandbox, method: str) -> int:
    return running.sandbox.slack.calls[method]


@pytest.mark.parametrize("nothing_made", [
    Fault("slack", "conversations.create", status=429, times=1),
    Fault("slack", "conversations.create", status=200, error="service_unavailable", times=1),
    Fault("slack", "conversations.create", status=503, times=1),
], ids=["429", "service_unavailable", "503"])
async def test_an_opening_retried_after_slack_made_nothing_lists_no_channels(
        start_sandbox: StartSandbox, nothing_made: Fault) -> None:
    # A first incident's opening retried alike: what a retry learns once (the bot's own user, the ids of the channels
    # its team announcement may be in, looked up by name) is known, and the second's lists for nothing else.
    running = await start_sandbox(faults=[replace(nothing_made)])
    await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await settle(running)
    assert len(incident_channels(running)) == 1 and calls(running, "conversations.create") == 2
    listed, created = calls(running, "conversations.list"), calls(running, "conversations.create")

    running.sandbox.faults.add(replace(nothing_made))
    incident = await running.sandbox.pagerduty.trigger(title="Basket totals wrong", service_id="PBASKET")
    await settle(running)

    assert calls(running, "conversations.create") - created == 2  # refused, then made by the retry
    assert calls(running, "conversations.list") - listed == 0
    [opened] = [c for c in incident_channels(running) if incident["id"] in c["topic"]]
    assert card(running, opened)
    footprint = await running.bot.store.footprint(incident["id"])
    assert footprint.channel_id == opened["id"]
