"""A ticket's priority raised after its team was paged (found in review, session 25; fixed in session 26): a ticket
raised with ServiceNow's default levels pages at low urgency; when the desk raises it to a high priority, its page
goes to high urgency in PagerDuty (as the catalogue's `servicenow.pagerduty_requester`), the incident's timeline says
who raised it, its card shows it, and a channel of its own opens if the policy wants one for high urgency. Only a page
the ticket made is raised (an incident PagerDuty raised has its own urgency rules), and a page is never lowered."""

from __future__ import annotations

from typing import Any

from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import buttons, card, incident_channels, messages, state, trigger
from tests.e2e.servicenow_helpers import settle_all, ticket_for, tickets
from tests.helpers import StartSandbox


def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


def ticket(running: RunningSandbox, sys_id: str) -> dict[str, Any]:
    return next(t for t in tickets(running) if t["sys_id"] == sys_id)


async def paged(running: RunningSandbox, **fields: str) -> tuple[dict[str, str], dict[str, Any]]:
    raised = running.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team", **fields},
        user="service.desk")
    await settle_all(running)
    [page] = pd_incidents(running)
    assert ticket(running, raised["sys_id"])["correlation_id"] == page["id"]
    return raised, page


async def desk_sets(running: RunningSandbox, sys_id: str, **fields: str) -> None:
    running.sandbox.servicenow.update_incident(sys_id, fields, user="service.desk")
    await running.bot.flush_work_notes()
    await settle_all(running)


def channel_text(running: RunningSandbox, channel: dict[str, Any]) -> str:
    return "\n".join(str(m.get("text") or "") for m in messages(running, channel["id"]))


async def test_a_ticket_raised_to_p1_after_its_page_pages_at_high_urgency(sandbox: RunningSandbox) -> None:
    """A ticket raised with ServiceNow's default levels (3/3, priority 5) pages low; the desk raises it to impact 1 /
    urgency 1 a minute later: the page goes high (it wakes someone), the timeline says who raised it and to what,
    and the card shows the urgency."""
    raised, page = await paged(sandbox)
    assert page["urgency"] == "low"
    await desk_sets(sandbox, raised["sys_id"], impact="1", urgency="1")
    assert ticket(sandbox, raised["sys_id"])["priority"] == "1"
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["high"], "a P1 ticket's team was paged at low urgency"
    [channel] = incident_channels(sandbox)
    assert "service.desk — raised the ticket to priority 1, so its page goes to high urgency" in channel_text(
        sandbox, channel)
    assert "high / none" in str(card(sandbox, channel)["blocks"])
    # Told once: a later note of the desk's on the raised ticket raises nothing again.
    await desk_sets(sandbox, raised["sys_id"], work_notes="Bridge opened")
    assert channel_text(sandbox, channel).count("raised the ticket to priority") == 1


async def test_a_page_is_never_lowered_with_its_ticket(sandbox: RunningSandbox) -> None:
    """Raised to P1 and then lowered again by the desk: the page stays high — a page too loud is better than one that
    wakes nobody; PagerDuty's responders lower it themselves if they will."""
    raised, _ = await paged(sandbox)
    await desk_sets(sandbox, raised["sys_id"], impact="1", urgency="1")
    await desk_sets(sandbox, raised["sys_id"], impact="3", urgency="3")
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["high"]


async def test_a_ticket_raised_only_to_a_middling_priority_leaves_its_page_low(sandbox: RunningSandbox) -> None:
    """Priority 4 is still nearest low urgency's 5 in the catalogue's mapping: nothing is raised, nothing said."""
    raised, _ = await paged(sandbox)
    await desk_sets(sandbox, raised["sys_id"], impact="2", urgency="3")
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["low"]
    [channel] = incident_channels(sandbox)
    assert "raised the ticket to priority" not in channel_text(sandbox, channel)


async def test_the_raised_page_opens_a_channel_when_the_policy_wants_one_for_high_urgency(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """With `dedicated_channel_for: high_urgency`, the low page's card goes to the team channel; raised, it gets a
    channel of its own, as an incident PagerDuty raised would."""
    channels = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": channels}))
    raised, _ = await paged(running)
    assert incident_channels(running) == []
    await desk_sets(running, raised["sys_id"], impact="1", urgency="2")
    [channel] = incident_channels(running)
    assert "high / none" in str(card(running, channel)["blocks"])
    # The card it had in its team channel says where it went, without the buttons of a card it no longer is.
    [retired] = [m for m in state(running)["slack"]["messages"] if m["channel"] != channel["id"] and m["blocks"]
                 and "Card payments failing" in str(m["blocks"])]
    assert f"<#{channel['id']}>" in str(retired["blocks"]) and buttons(retired) == []


async def test_an_incident_pagerduty_raised_keeps_its_own_urgency_when_its_ticket_is_raised(
        sandbox: RunningSandbox) -> None:
    """A low-urgency incident from PagerDuty (a monitoring alert) has the ticket the bot opened for it; the desk
    raising that ticket does not overrule the service's urgency rules in PagerDuty."""
    incident = await trigger(sandbox, urgency="low")
    await settle_all(sandbox)
    sys_id = ticket_for(sandbox, incident["id"])["sys_id"]
    await desk_sets(sandbox, sys_id, impact="1", urgency="1")
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["low"]
