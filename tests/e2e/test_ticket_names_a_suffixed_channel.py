"""A ticket opened before its incident's channel exists names the channel by the catalogue pattern's name (its link
follows in the work notes once the channel is open). When Slack had that name taken — someone's channel, an archived
one — the bot's channel got a suffix (`-2`), and the ticket's description named the other channel for ever: a desk
agent reading it went to someone else's channel. Once the channel is open, the `Slack: #…` line names it as made."""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, incident_channels
from tests.e2e.servicenow_helpers import bot_notes, incident_data, settle_all, ticket_for, tickets
from tests.helpers import StartSandbox

TAKEN = "inc-1-checkout-returns-500s"  # the catalogue pattern's name for the incident below
HELD_MS = 60_000  # the channel's creation, held until released (a bound on a hang, not a measure)


async def ticket_opened_before_the_channel(running: RunningSandbox, *, taken: bool = True,
                                           moved_to: str | None = None) -> str:
    """Someone has the pattern's name (`taken`); the incident's ticket opens while Slack holds the channel's creation
    (the incident meanwhile moved to service `moved_to`), then Slack answers: the incident's id."""
    if taken:
        running.sandbox.slack.create_channel_as("chloe.martin@example.com", TAKEN)
    faults = running.sandbox.faults
    faults.add(Fault("slack", "conversations.create", times=0, latency_ms=HELD_MS))
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await eventually(lambda: any(t["correlation_id"] == incident["id"] for t in tickets(running)))
    assert f"Slack: #{TAKEN} " in ticket_for(running, incident["id"])["description"]
    if moved_to is not None:
        pd = running.sandbox.pagerduty
        pd.emit_event("incident.service_updated", incident["id"], user_email="asha.patel@example.com",
                      data=incident_data(running, incident["id"], service=pd.shapes.service_ref(moved_to)))
        await pd.drain_webhooks()
    faults.clear()
    await settle_all(running)
    return str(incident["id"])


async def test_a_ticket_opened_before_its_suffixed_channel_names_the_channel_as_made(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox()
    incident_id = await ticket_opened_before_the_channel(running)
    assert sorted(c["name"] for c in incident_channels(running)) == [TAKEN, f"{TAKEN}-2"]
    ticket = ticket_for(running, incident_id)
    assert f"Slack: #{TAKEN}-2 " in ticket["description"], ticket["description"]
    assert not any("renamed" in note for note in bot_notes(ticket))  # made so, not renamed


async def test_a_ticket_whose_incident_moved_service_before_its_suffixed_channel_names_both(
        start_sandbox: StartSandbox) -> None:
    """The move's sync waits for the channel on its way, then tells the move and the link in one update: the
    description rewritten for the move took the place of the made name's (found in review)."""
    running = await start_sandbox()
    incident_id = await ticket_opened_before_the_channel(running, moved_to="PCHECKO")
    lines = ticket_for(running, incident_id)["description"].splitlines()
    assert "Service: Checkout" in lines and any(line.startswith(f"Slack: #{TAKEN}-2 ") for line in lines), lines


async def test_a_channel_made_with_the_patterns_name_costs_the_ticket_no_read(start_sandbox: StartSandbox) -> None:
    """Every other incident's channel is made as its ticket says: its first link reads nothing more from ServiceNow
    (the description is read only for a channel made with another name)."""
    running = await start_sandbox()
    incident_id = await ticket_opened_before_the_channel(running, taken=False)
    assert f"Slack: #{TAKEN} " in ticket_for(running, incident_id)["description"]
    assert running.sandbox.servicenow.calls["GET /api/now/table/incident/{sys_id}"] == 0
