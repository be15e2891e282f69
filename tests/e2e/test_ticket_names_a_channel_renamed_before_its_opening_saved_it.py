"""The incident's channel renamed before its opening saved it (Slack's answer to conversations.create lost, people
renamed the channel, the retry found it by its earlier name): the ticket, opened meanwhile with the name the bot made
the channel with, must name the channel as it is now called — its description's `Slack: #…` line and a work note
saying the rename — as it does for a rename after the opening (found in review: the rename's event came while no
incident named the channel, so only a mark was left, and the opening's save of the new name told no ticket)."""

from __future__ import annotations

from typing import Any

from sandbox.faults import Fault
from sandbox.slack.channel_acts import rename_as_person
from sandbox.slack.person import deliver_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, incident_channels, slack_user
from tests.e2e.servicenow_helpers import bot_notes, settle_all, ticket_for, tickets
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
RENAMED = "inc-1-checkout-db"


async def renamed_before_the_retry(running: RunningSandbox, *faults_after: Fault) -> dict[str, Any]:
    """Slack makes the channel and the answer is lost; every later attempt fails until a person renames it (its event
    handled while no incident names the channel), then `faults_after` only: the incident (PagerDuty's)."""
    faults = running.sandbox.faults
    faults.add(Fault("slack", "conversations.create", status=502, times=1, after=True))
    faults.add(Fault("slack", "conversations.create", status=500, times=10_000))
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await eventually(lambda: len(incident_channels(running)) == 1)
    [made] = incident_channels(running)
    await eventually(lambda: any(t["correlation_id"] == incident["id"] for t in tickets(running)))
    assert f"Slack: #{made['name']} " in ticket_for(running, incident["id"])["description"]

    slack = running.sandbox.slack
    channel = slack.find_channel(made["id"])
    assert channel is not None
    channel.members.append(slack_user(running, ASHA))
    [event] = rename_as_person(slack, ASHA, made["id"], RENAMED).events
    assert (await deliver_event(slack, event))["status"] == 200
    faults.clear()
    for fault in faults_after:
        faults.add(fault)
    await settle_all(running)
    return incident


async def test_a_ticket_names_the_channel_renamed_before_its_lost_opening_was_retried(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox()
    incident = await renamed_before_the_retry(running)
    assert (await running.bot.store.footprint(incident["id"])).channel_name == RENAMED
    ticket = ticket_for(running, incident["id"])
    assert f"Slack: #{RENAMED} " in ticket["description"], ticket["description"]
    notes = bot_notes(ticket)
    [said] = [note for note in notes if f"renamed #{RENAMED}" in note]
    # Told before the channel's link (found in review: it said "its link is the same" of a link never given).
    assert "link" not in said and said in notes[:notes.index(next(n for n in notes if "app_redirect" in n))], notes


async def test_the_renamed_channels_name_is_read_again_when_reading_it_failed(start_sandbox: StartSandbox) -> None:
    """Slack's conversations.info failed as the opening read the name, after it had saved the channel: its retry
    found the channel saved and looked no more — the incident kept the made name, and the ticket named it (found in
    review)."""
    running = await start_sandbox()
    incident = await renamed_before_the_retry(running, Fault("slack", "conversations.info", status=500, times=1))
    assert (await running.bot.store.footprint(incident["id"])).channel_name == RENAMED
    ticket = ticket_for(running, incident["id"])
    assert f"Slack: #{RENAMED} " in ticket["description"], ticket["description"]
    assert any(f"renamed #{RENAMED}" in note for note in bot_notes(ticket)), bot_notes(ticket)
