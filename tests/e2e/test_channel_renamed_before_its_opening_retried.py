"""The incident's channel made by Slack, its answer lost (a gateway's 502 after Slack acted), then renamed by someone
before the outbox retried the opening: the retry asked for the name it made the channel with, which was free again,
and made the incident a second channel. Slack keeps a channel's earlier names (`previous_names` in
conversations.list): the retry finds its channel by them, and the incident keeps the one channel, as renamed."""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.slack.channel_acts import rename_as_person
from sandbox.slack.person import deliver_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import card, eventually, incident_channels, settle, slack_user
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
RENAMED = "inc-1-checkout-db"


def bots_channels(running: RunningSandbox) -> list[str]:
    """The names of the channels the bot's user made, whatever people have named them since."""
    slack = running.sandbox.slack
    return [c.name for c in slack.channels.values() if c.creator == slack.bot.id and not c.is_im]


async def test_a_channel_renamed_before_its_lost_opening_is_retried_is_not_made_twice(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox()
    faults = running.sandbox.faults
    made_before = len(bots_channels(running))
    # Slack makes the channel and the answer is lost; every later attempt fails until the rename is done.
    faults.add(Fault("slack", "conversations.create", status=502, times=1, after=True))
    faults.add(Fault("slack", "conversations.create", status=500, times=10_000))
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await eventually(lambda: len(incident_channels(running)) == 1)
    [made] = incident_channels(running)

    slack = running.sandbox.slack
    channel = slack.find_channel(made["id"])
    assert channel is not None
    channel.members.append(slack_user(running, ASHA))  # (Slack's "Join channel": the app hears of it, does nothing)
    [event] = rename_as_person(slack, ASHA, made["id"], RENAMED).events
    assert (await deliver_event(slack, event))["status"] == 200
    faults.clear()
    await settle(running)

    assert len(bots_channels(running)) == made_before + 1, bots_channels(running)
    [opened] = incident_channels(running)
    assert opened["id"] == made["id"] and opened["name"] == RENAMED
    assert card(running, opened) and opened["topic"]
    footprint = await running.bot.store.footprint(incident["id"])
    assert (footprint.channel_id, footprint.channel_name) == (made["id"], RENAMED)
