"""A command a graceful stop cut short is not lost without a word: its person is told, in their direct messages with
the app, by whichever replica performs the outbox next (here a second replica on the same store, as in a rolling
deploy). PagerDuty's answer is held by a latency fault until the test releases it, past a short drain."""

from __future__ import annotations

import html
from typing import Any

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import as_user, eventually, incident_channels, slack_user, state, trigger
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
HELD_MS = 8000
SHORT_DRAIN_SECONDS = 0.3


def direct_messages(messages: list[dict[str, Any]], user: str, channels: list[dict[str, Any]]) -> list[str]:
    """What the app said to `user` in their direct messages with it."""
    ims = {c["id"] for c in channels if c.get("is_im") and user in c.get("members", [])}
    return [html.unescape(m["text"]) for m in messages if m["channel"] in ims]


async def test_a_command_cut_short_by_a_stop_is_told_to_its_person_by_the_replica_still_running(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    running = await start_sandbox()
    running.bot.drain_seconds = SHORT_DRAIN_SECONDS
    other: Bot | None = None
    faults = running.sandbox.faults
    held = Fault("pagerduty", "/incidents", times=0, latency_ms=HELD_MS)
    try:
        incident = await trigger(running, "Checkout returns 500s", "PBASKET")
        [channel] = incident_channels(running)
        await eventually(lambda: running.bot.home.publishing == 0)
        faults.add(held)
        await as_user(running, "command", user=ASHA, channel=channel["id"], text=f"resolve {incident['id']} done")
        await eventually(lambda: faults.held["pagerduty"] == 1)
        await running.bot.stop()  # the resolve outlasts the drain: cut short
        asha = slack_user(running, ASHA)
        assert direct_messages(state(running)["slack"]["messages"], asha, state(running)["slack"]["channels"]) == []
        other = Bot(running.bot.settings, catalogue, clock=running.bot.clock, replica_id="second-replica")
        await other.start()

        def told() -> list[str]:
            slack = state(running)["slack"]
            return direct_messages(slack["messages"], asha, slack["channels"])
        await eventually(lambda: bool(told()))
        [notice] = told()
        assert "`/incident resolve`" in notice and incident["id"] in notice, notice
        assert "may or may not have been done" in notice and "before sending it again" in notice, notice
    finally:
        if held in faults.rules:
            faults.rules.remove(held)
        faults.release_held()
        if other is not None:
            await other.stop()
        await running.stop()
