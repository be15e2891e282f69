"""An incident's channel opening cut short mid-call — conversations.create on its way when the bot was stopped (a
deploy), or when its replica died or stalled past its lease — and the channel Slack made for it renamed by people
before the opening was retried: the retry looked for a channel once called one of its names only after a create that
had failed with no clear answer (a mark in the store), which an attempt cut short never leaves. Its names were free
again, and the incident got a second channel. Now a stop leaves the mark as it goes, and a retry of an attempt that
never recorded how it ended (its lease ran out, or its replica restarted) looks too."""

from __future__ import annotations

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from bot.domain.effects.slack import OpenIncidentChannel
from bot.ports.handover_ledger import EffectHolder
from bot.services.bookkeeping import keeping
from sandbox.faults import Fault
from sandbox.slack.channel_acts import rename_as_person
from sandbox.slack.person import deliver_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import card, eventually, incident_channels, settle, slack_user
from tests.helpers import FAST_RETRIES, StartSandbox, rows

ASHA = "asha.patel@example.com"
RENAMED = "inc-1-checkout-db"
FIRST_NAME = "inc-1-checkout-returns-500s"  # the name the opening asks for (the catalogue's pattern)
# Slack holds conversations.create this long: the bot is stopped while it waits (released at once after the stop).
CREATE_HELD_MS = 30_000


def bots_channels(running: RunningSandbox) -> list[str]:
    """The names of the channels the bot's user made, whatever people have named them since."""
    slack = running.sandbox.slack
    return [c.name for c in slack.channels.values() if c.creator == slack.bot.id and not c.is_im]


async def renamed_by_a_person(running: RunningSandbox, channel_id: str, *, bot_up: bool = True) -> None:
    """`bot_up`: the app is there to hear of it (else its `channel_rename` event finds nobody: not delivered)."""
    slack = running.sandbox.slack
    channel = slack.find_channel(channel_id)
    assert channel is not None
    channel.members.append(slack_user(running, ASHA))  # (Slack's "Join channel": the app hears of it, does nothing)
    [event] = rename_as_person(slack, ASHA, channel_id, RENAMED).events
    if bot_up:
        assert (await deliver_event(slack, event))["status"] == 200


async def test_a_channel_renamed_after_its_opening_was_stopped_mid_create_is_not_made_twice(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    running = await start_sandbox()
    slack, faults = running.sandbox.slack, running.sandbox.faults
    made_before = len(bots_channels(running))
    # (`with_field`: the request is read before it is held, as Slack has it whole before it acts.)
    held = Fault("slack", "conversations.create", times=0, latency_ms=CREATE_HELD_MS, with_field="name")
    faults.add(held)
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await eventually(lambda: slack.calls["conversations.create"] == 1 and faults.held["slack"] >= 1)
    await running.bot.stop()  # a deploy: the create is on its way, its answer will reach nobody
    faults.rules.remove(held)
    faults.release_held()  # Slack makes the channel
    await eventually(lambda: len(incident_channels(running)) == 1)
    [made] = incident_channels(running)
    await renamed_by_a_person(running, made["id"], bot_up=False)

    again = Bot(running.bot.settings, catalogue, retry_policy=FAST_RETRIES, clock=running.sandbox.clock)
    await again.start()
    try:
        await again.settle(20)
        footprint = await again.store.footprint(incident["id"])
    finally:
        await again.stop()
    assert len(bots_channels(running)) == made_before + 1, bots_channels(running)
    [opened] = incident_channels(running)
    assert opened["id"] == made["id"] and opened["name"] == RENAMED
    assert card(running, opened) and opened["topic"]
    assert footprint.channel_id == made["id"]
    # The sandbox's own teardown (its web app's cleanup) would stop the first bot again: its server is closed alone.
    await running.sandbox.close()
    for site in list(running.runner.sites):
        await site.stop()


async def test_an_opening_taken_over_after_its_lease_ran_out_finds_the_channel_renamed_since(
        start_sandbox: StartSandbox) -> None:
    # The first attempt's replica died (or stalled past its lease) with conversations.create on its way: Slack made
    # the channel, nobody heard, nothing was recorded; people renamed it. Another replica takes the opening over.
    running = await start_sandbox()
    slack, faults = running.sandbox.slack, running.sandbox.faults
    made_before = len(bots_channels(running))
    faults.add(Fault("slack", "conversations.create", status=503, times=10_000))  # (made nothing: no mark)
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await settle(running)
    faults.clear()
    [opening] = rows(running.bot.settings.db_path, "SELECT seq, created_at FROM outbox"
                     " WHERE kind='open_incident_channel' AND incident_id=?", (incident["id"],))
    # What the dead replica's call did in Slack: the channel, under the name it asked for, since renamed.
    made = slack.new_channel(slack.check_channel_name(FIRST_NAME), is_private=False)
    await renamed_by_a_person(running, made.id)
    listed = slack.calls["conversations.list"]

    with keeping(EffectHolder(int(opening["seq"]), running.bot.replica_id, cut_short=True)):
        await running.bot.executor.perform(OpenIncidentChannel(incident["id"]), retry=True,
                                           created_at=float(opening["created_at"]))
    assert slack.calls["conversations.list"] > listed
    assert len(bots_channels(running)) == made_before + 1, bots_channels(running)
    [opened] = incident_channels(running)
    assert opened["id"] == made.id and opened["name"] == RENAMED
