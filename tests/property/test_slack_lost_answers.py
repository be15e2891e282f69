"""Slack failing under an incident's channel work, property-based: whatever Slack answers to one of the calls an
incident makes (a refusal, a rate limit, or — with the emulator's `after` faults — an answer lost after Slack acted,
as its edge timing out would), the incident ends with one channel, one pinned card showing its state, its timeline
lines once each, and nothing parked as dead. The effects look before they create (bot/services/executor.py), so a
retry after a lost answer finds the first attempt's work rather than doing it again."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, buttons, card, incident_channels, messages, trigger
from tests.property.loop_bridge import OnTheLoop, run_property

ASHA = "asha.patel@example.com"
# Every Slack method an incident's channel work calls, from its trigger to its resolve.
METHODS = ("conversations.create", "conversations.setTopic", "conversations.invite", "chat.postMessage", "pins.add",
           "chat.update", "users.lookupByEmail", "conversations.history")
faults = st.one_of(
    st.builds(lambda method, status, after, times: Fault("slack", method, status=status, times=times, after=after),
              st.sampled_from(METHODS), st.sampled_from([500, 502, 504]), st.booleans(), st.integers(1, 2)),
    st.builds(lambda method, status: Fault("slack", method, status=status, times=1, retry_after=0),
              st.sampled_from(METHODS), st.sampled_from([503, 429])))


async def through_a_fault(running: RunningSandbox, fault: Fault) -> None:
    running.sandbox.faults.add(fault)
    try:
        incident = await trigger(running, "Checkout returns 500s")
        await act(running, incident["id"], "acknowledge", email=ASHA)
        await act(running, incident["id"], "resolve", email=ASHA)
    finally:
        running.sandbox.faults.clear()
    await running.bot.settle(30)
    prefix = f"inc-{incident['incident_number']}-"
    channels = [c for c in incident_channels(running) if c["name"].startswith(prefix)]
    assert len(channels) == 1, [c["name"] for c in channels]
    [channel] = channels
    pinned = card(running, channel)  # exactly one pinned message
    assert buttons(pinned) == [], pinned  # the card shows the incident resolved
    assert channel["topic"].startswith("✅ Resolved"), channel["topic"]
    # Only the bot writes in this channel here: every line it posted once, and each thing it posts (the card, each
    # timeline entry: the marker in its metadata) once, whatever it has been edited to since.
    posted = [m for m in messages(running, channel["id"]) if m["ephemeral_to"] is None]
    said = Counter(m["text"] for m in posted)
    assert [text for text, times in said.items() if times > 1] == [], said
    marked = Counter(m["metadata"]["event_payload"]["marker"] for m in posted
                     if (m.get("metadata") or {}).get("event_type") == "pavedroad_posted")
    assert [marker for marker, times in marked.items() if times > 1] == [], marked
    assert await running.bot.store.dead_effects(incident["id"]) == []


async def test_slack_failing_under_an_incident_leaves_one_channel_one_card_and_each_line_once(
        sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()

    # Each example is an incident triggered, acknowledged and resolved through the sandbox (about a second).
    @settings(max_examples=int(os.environ.get("SLACK_FAULT_EXAMPLES", "15")))
    @given(fault=faults)
    def prop(fault: Fault) -> None:
        on_loop.run(through_a_fault(sandbox, fault))

    await run_property(prop)
