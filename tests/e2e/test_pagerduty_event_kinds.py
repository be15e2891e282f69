"""A review of what PagerDuty's v3 webhooks do to incidents, as the SRE in the incident channel sees it: every event
PagerDuty documents reaches the channel as a line that says what happened (never a quarantined delivery, never a
line that hides its news), and an event missing fields never overwrites what the bot knew."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp

from bot.adapters.pagerduty.webhook import read_event
from bot.catalogue import Catalogue
from bot.domain.effects.slack import RefreshCard
from bot.domain.incident import ChannelPolicy, apply_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, buttons, card, incident_channels, messages, settle, state, trigger
from tests.helpers import StartSandbox, fixture, incident_event


def lines(running: RunningSandbox) -> str:
    [channel] = incident_channels(running)
    return "\n".join(m["text"] for m in messages(running, channel["id"]))


async def failed_deliveries(running: RunningSandbox) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{running.url}/readyz") as response:
        report: dict[str, Any] = await response.json()
    return int(report["inbox_failed"])


def incident_data(running: RunningSandbox, incident_id: str, **changes: Any) -> dict[str, Any]:
    """The incident as PagerDuty's webhooks describe it now, with `changes`."""
    pd = running.sandbox.pagerduty
    return dict(pd.shapes.webhook_incident(pd.account.incident(incident_id)), **changes)


async def test_a_role_assigned_in_pagerduty_is_a_line_not_a_quarantined_delivery(sandbox: RunningSandbox) -> None:
    """incident.role.assigned, as PagerDuty documents it, names its incident inside each role assignment (there is
    no `data.incident`): it was quarantined as "names no incident", with an operators' alert, at every role given."""
    incident = await trigger(sandbox)
    data = copy.deepcopy(fixture("data.incident_role_assignments.json"))
    data["incident_role_assignments"][0]["incident"]["id"] = incident["id"]
    data["incident_role_assignments"][0]["role"]["summary"] = "Incident Commander"
    data["incident_role_assignments"][0]["assignee"]["summary"] = "Chloe Martin"
    sandbox.sandbox.pagerduty.emit_event("incident.role.assigned", incident["id"],
                                         user_email="asha.patel@example.com", data=data)
    await settle(sandbox)
    assert await failed_deliveries(sandbox) == 0
    assert "Chloe Martin" in lines(sandbox) and "Incident Commander" in lines(sandbox)


async def test_a_conference_bridge_set_in_pagerduty_puts_the_bridge_in_the_channel(sandbox: RunningSandbox) -> None:
    """The line said "Conference bridge updated by Asha Patel": the number and link everyone needs were left out."""
    incident = await trigger(sandbox)
    data = copy.deepcopy(fixture("data.incident_conference_bridge.json"))
    data["incident"]["id"] = incident["id"]
    data["conference_url"] = "https://meet.example.com/war-room"
    sandbox.sandbox.pagerduty.emit_event("incident.conference_bridge.updated", incident["id"],
                                         user_email="asha.patel@example.com", data=data)
    await settle(sandbox)
    text = lines(sandbox)
    assert "https://meet.example.com/war-room" in text and "+1-555-555-5555" in text


async def test_a_merged_incident_says_which_incident_it_goes_on_in(sandbox: RunningSandbox) -> None:
    """Merging in PagerDuty resolves the incident merged away, its `resolve_reason` naming the one it went into: the
    channel said only "Resolved by …", as if the outage were over."""
    kept = await trigger(sandbox, "Checkout returns 500s", "PCHECKO")
    merged = await trigger(sandbox, "Basket errors spike", "PBASKET")
    pd = sandbox.sandbox.pagerduty
    reason = {"type": "merge_resolve_reason", "incident": pd.shapes.ref("incident", kept["id"], kept["title"])
              | {"html_url": kept["html_url"]}}
    pd.emit_event("incident.resolved", merged["id"], user_email="asha.patel@example.com",
                  data=incident_data(sandbox, merged["id"], status="resolved", resolve_reason=reason))
    await settle(sandbox)
    channel = next(c for c in incident_channels(sandbox) if c["name"].endswith("basket-errors-spike"))
    text = "\n".join(m["text"] for m in messages(sandbox, channel["id"]))
    assert "Merged into" in text and "Checkout returns 500s" in text and kept["html_url"] in text


async def test_a_resolve_missing_fields_resolves_and_keeps_what_was_known(sandbox: RunningSandbox) -> None:
    """An incident.resolved whose incident lacks `status`, `title`, `urgency` and `priority` left the incident open
    (its card still offering Resolve, the line saying "Resolved"), titled "(untitled)", and made it high urgency."""
    incident = await trigger(sandbox, "Slow basket page", "PBASKET", urgency="low")
    data = incident_data(sandbox, incident["id"])
    for name in ("status", "title", "urgency", "priority"):
        del data[name]
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", incident["id"], user_email="asha.patel@example.com",
                                         data=data)
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["topic"].startswith("✅ Resolved")
    shown = str(card(sandbox, channel)["blocks"])
    assert "Slow basket page" in shown and "(untitled)" not in shown and "low" in shown
    stored = await sandbox.bot.store.incident(incident["id"])
    assert stored is not None and stored.urgency == "low" and stored.title == "Slow basket page"


async def test_an_incident_moved_to_another_service_says_which(sandbox: RunningSandbox) -> None:
    """incident.service_updated (moved to another team's service) said only "Service updated by Asha Patel"."""
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    pd = sandbox.sandbox.pagerduty
    sandbox.sandbox.pagerduty.emit_event("incident.service_updated", incident["id"],
                                         user_email="asha.patel@example.com",
                                         data=incident_data(sandbox, incident["id"],
                                                            service=pd.shapes.service_ref("PCHECKO")))
    await settle(sandbox)
    assert "Moved to Checkout" in lines(sandbox)


async def test_an_incident_moved_to_another_teams_service_is_announced_to_that_team(sandbox: RunningSandbox) -> None:
    """Moved from Basket's service to Checkout (Payments'): #team-payments never hears of the incident its on-call now
    works on; the card and the ticket follow, the team's channel does not."""
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    pd = sandbox.sandbox.pagerduty
    pd.emit_event("incident.service_updated", incident["id"], user_email="asha.patel@example.com",
                  data=incident_data(sandbox, incident["id"], service=pd.shapes.service_ref("PCHECKO")))
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    payments = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-payments")
    assert any(channel["id"] in m["text"] for m in messages(sandbox, payments["id"]))


async def test_a_move_within_a_team_or_said_twice_announces_nothing_more(sandbox: RunningSandbox) -> None:
    """Checkout to Refunds (both Payments'): #team-payments heard of it once, when it moved there from Basket; the
    move delivered twice (a redelivery with a new event id) and a move within the team add nothing."""
    incident = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    pd = sandbox.sandbox.pagerduty
    for service in ("PCHECKO", "PCHECKO", "PREFUND"):
        pd.emit_event("incident.service_updated", incident["id"], user_email="asha.patel@example.com",
                      data=incident_data(sandbox, incident["id"], service=pd.shapes.service_ref(service)))
        await settle(sandbox)
    [channel] = incident_channels(sandbox)
    payments = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-payments")
    assert len([m for m in messages(sandbox, payments["id"]) if channel["id"] in m["text"]]) == 1


async def test_a_note_pagerduty_trimmed_says_it_was_cut_and_where_the_rest_is(sandbox: RunningSandbox) -> None:
    """PagerDuty sends a long note's content trimmed (`trimmed: true`): the line showed the cut text as the whole
    note, and nobody knew the rest of the stack trace or the rollback plan was in PagerDuty."""
    incident = await trigger(sandbox)
    data = {"incident": sandbox.sandbox.pagerduty.shapes.ref("incident", incident["id"], incident["title"]),
            "id": "PNOTE01", "content": "Rolled back 4.2.1; the rest of the plan is", "trimmed": True,
            "type": "incident_note"}
    sandbox.sandbox.pagerduty.emit_event("incident.annotated", incident["id"], user_email="asha.patel@example.com",
                                         data=data)
    await settle(sandbox)
    [line] = [t for t in lines(sandbox).splitlines() if "Rolled back 4.2.1" in t]
    assert "PagerDuty" in line.split("Rolled back 4.2.1", 1)[1]


def test_an_incident_first_seen_without_its_number_takes_it_from_the_next_event() -> None:
    """Pure domain: the first event lacked `data.number`, so the card said #0 — and kept saying it, whatever the
    later events said."""
    first = incident_event("incident.acknowledged", occurred_at="2026-11-27T10:04:00Z", number=4711)
    del first["event"]["data"]["number"]
    seen = apply_event(None, read_event(first), ChannelPolicy()).incident
    assert seen is not None and seen.number == 0
    later = apply_event(seen, read_event(incident_event("incident.escalated", occurred_at="2026-11-27T10:09:00Z",
                                                        status="acknowledged", number=4711)), ChannelPolicy())
    assert later.incident is not None and later.incident.number == 4711
    assert RefreshCard(seen.id) in later.effects


def test_a_priority_update_that_leaves_the_priority_out_changes_nothing_it_does_not_say() -> None:
    """Pure domain: a priority_updated without `data.priority` cleared the priority and said "Priority set to none"."""
    incident = apply_event(None, read_event(incident_event("incident.triggered", priority="P1")), ChannelPolicy())
    assert incident.incident is not None
    event = incident_event("incident.priority_updated", occurred_at="2026-11-27T10:09:00Z")
    del event["event"]["data"]["priority"]
    decision = apply_event(incident.incident, read_event(event), ChannelPolicy())
    assert decision.incident is not None and decision.incident.priority == "P1"
    assert decision.entry is not None and "none" not in decision.entry.text


async def test_a_team_channel_card_upgraded_to_a_channel_of_its_own_does_not_stay_triggered(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Dedicated channels for P1 and P2 only: a low-urgency incident's card goes to #team-basket; its priority raised
    to P1, it gets its own channel. Resolved there, #team-basket's card still says "🔴 Triggered", low / none, with
    Acknowledge and Resolve buttons, and nothing in its thread says where the incident went."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": ["P1", "P2"]})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await act(running, incident["id"], "priority", user="asha.patel@example.com", priority="P1")
    await act(running, incident["id"], "resolve", user="asha.patel@example.com")
    [channel] = incident_channels(running)
    team = next(c for c in state(running)["slack"]["channels"] if c["name"] == "team-basket")
    [team_card] = [m for m in messages(running, team["id"]) if m["blocks"]]
    shown = str(team_card["blocks"])
    assert "Triggered" not in shown and buttons(team_card) == []
    assert channel["id"] in shown or any(channel["id"] in m["text"] for m in messages(running, team["id"])
                                         if m["thread_ts"] == team_card["ts"])
