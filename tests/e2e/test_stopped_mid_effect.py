"""The bot stopped while an effect is mid-call (a deploy's SIGTERM, a scale-down): what the effect had learnt from
Slack by then — the channel it opened, the card it posted — is on record when the bot has stopped, the effect still
pending; the bot started again finishes the effect from there, without a second channel or a second card."""

from __future__ import annotations

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import eventually, incident_channels, messages, state
from tests.helpers import FAST_RETRIES, StartSandbox, rows

# Slack holds the card's pin this long: the bot is stopped while it waits. Long enough for the stop to land within
# it on a loaded machine (the held call then ends, answered to nobody).
PIN_HELD_MS = 5000


async def test_a_bot_stopped_while_pinning_the_card_keeps_the_card_it_posted(start_sandbox: StartSandbox,
                                                                              catalogue: Catalogue) -> None:
    running = await start_sandbox()
    pin_held = Fault("slack", "pins.add", times=0, latency_ms=PIN_HELD_MS)
    running.sandbox.faults.add(pin_held)
    incident = await running.sandbox.pagerduty.trigger(title="Basket is empty", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    # The channel is open and the card posted: its pin is on the way when the bot is told to stop.
    await eventually(lambda: running.sandbox.slack.calls["pins.add"] == 1)
    await running.bot.stop()

    [channel] = incident_channels(running)
    [posted] = [m for m in messages(running, channel["id"]) if m["blocks"]]
    db = running.bot.settings.db_path
    footprint = rows(db, "SELECT channel_id, card_ts FROM incident_slack WHERE incident_id=?", (incident["id"],))
    assert footprint == [{"channel_id": channel["id"], "card_ts": posted["ts"]}]
    opening = rows(db, "SELECT state, lease_owner FROM outbox WHERE incident_id=? AND kind='open_incident_channel'",
                   (incident["id"],))
    assert opening == [{"state": "pending", "lease_owner": None}]  # to be finished, by any replica, at once

    running.sandbox.faults.rules.remove(pin_held)
    again = Bot(running.bot.settings, catalogue, retry_policy=FAST_RETRIES, clock=running.sandbox.clock)
    await again.start()
    try:
        await again.settle(20)
    finally:
        await again.stop()
    # One channel, one card — the one posted before the stop, now pinned.
    [channel] = incident_channels(running)
    [card] = [m for m in messages(running, channel["id"]) if m["blocks"]]
    assert card["ts"] == posted["ts"] and channel["pins"] == [posted["ts"]]
    assert state(running)["slack"]["calls"]["conversations.create"] == 1
    assert rows(db, "SELECT state FROM outbox WHERE incident_id=? AND kind='open_incident_channel'",
                (incident["id"],)) == [{"state": "done"}]
    # The sandbox's own teardown (its web app's cleanup) would stop the first bot again: its server is closed alone.
    await running.sandbox.close()
    for site in list(running.runner.sites):
        await site.stop()
