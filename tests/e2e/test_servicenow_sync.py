"""ServiceNow in sync (issue 4), end to end through the sandbox: PagerDuty incidents become exactly one ticket whose
state and work notes follow the incident, and tickets raised in ServiceNow page teams. Every test asserts on the
emulators' state (ServiceNow's tickets and journal, PagerDuty's incidents, Slack's channels), not only on replies."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from sandbox.faults import Fault
from sandbox.ui.blockkit import Names, mrkdwn
from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.e2e.sandbox_helpers import act, alerts_pending, card, deliver, eventually, incident_channels, messages, state
from tests.e2e.servicenow_helpers import bot_notes, note_lines, settle_all, ticket_for, tickets
from tests.helpers import incident_event

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"
PENDING = "ServiceNow sync pending"


# ----- helpers -----------------------------------------------------------------------------------------------------

async def settle_except_servicenow(running: RunningSandbox, incident_id: str, within: float = 20.0) -> None:
    """While ServiceNow is down `bot.settle` cannot finish: wait only for the inbox and the incident's Slack work."""
    store = running.bot.store
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await running.sandbox.pagerduty.drain_webhooks()
        if ((await store.depths())["inbox_pending"] == 0 and await store.pending_in_queue(f"slack:{incident_id}") == 0
                and alerts_pending(running) == 0):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"Slack work for {incident_id} did not finish within {within}s")


async def until(running: RunningSandbox, condition: Callable[[], bool], within: float = 20.0) -> None:
    """Wait for something the bot does outside its inbox and outbox (a slash command's later calls), then settle."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        await asyncio.sleep(0.02)
    await settle_all(running)










def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


def channel_of(running: RunningSandbox, incident_id: str) -> dict[str, Any]:
    """The incident channel whose pinned card names this PagerDuty incident."""
    [channel] = [c for c in incident_channels(running) if c["pins"] and incident_id in str(card(running, c)["blocks"])]
    return channel


def card_context(running: RunningSandbox, channel: dict[str, Any]) -> str:
    return str(card(running, channel)["blocks"])


def channel_lines(running: RunningSandbox, channel: dict[str, Any]) -> list[str]:
    return [m["text"] for m in messages(running, channel["id"]) if not m["blocks"]]


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"])]


async def post_json(running: RunningSandbox, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, f"{running.url}{path}",
                                                                   json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status in (200, 201), answer
        return answer


async def raise_ticket(running: RunningSandbox, **fields: Any) -> dict[str, Any]:
    """A person raises a ticket in ServiceNow's UI (the business rule tells the bot); returns the record."""
    answer = await post_json(running, "POST", "/sandbox/servicenow/incidents", fields)
    await settle_all(running)
    record: dict[str, Any] = answer["result"]
    return record


async def journal(running: RunningSandbox, sys_id: str, text: str, user: str, element: str = "work_notes") -> None:
    """A person adds a work note (or comment) to a ticket in ServiceNow's UI."""
    await post_json(running, "POST", f"/sandbox/servicenow/incidents/{sys_id}/{element}", {"text": text, "user": user})
    await settle_all(running)


async def triggered(running: RunningSandbox, title: str = "Basket totals are wrong",
                    service_id: str = "PBASKET", urgency: str = "high") -> dict[str, Any]:
    incident = await running.sandbox.pagerduty.trigger(title=title, service_id=service_id, urgency=urgency)
    await settle_all(running)
    return incident


async def act_all(running: RunningSandbox, incident_id: str, action: str, **fields: Any) -> None:
    await act(running, incident_id, action, **fields)
    await settle_all(running)


async def slash_command(running: RunningSandbox, text: str, channel_id: str, user: str = ASHA) -> dict[str, Any]:
    """`/incident <text>` typed by a person in a channel, through the Slack emulator's control route."""
    running.sandbox.slack.settle_seconds = 0.2
    answer = await post_json(running, "POST", "/sandbox/slack/command", {"user": user, "channel": channel_id,
                                                                          "text": text})
    await settle_all(running)
    return answer


def sn_signature(running: RunningSandbox, body: bytes) -> str:
    return hmac.new(running.sandbox.keys.servicenow_webhook_secret.encode(), body, hashlib.sha256).hexdigest()


async def sn_webhook(running: RunningSandbox, body: bytes, *, signature: str | None = "sign",
                     delivery: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST /servicenow/webhook as the business rule would (`signature="sign"`: correctly signed)."""
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-ServiceNow-Signature"] = sn_signature(running, body)
    elif signature is not None:
        headers["X-ServiceNow-Signature"] = signature
    if delivery is not None:
        headers["X-ServiceNow-Delivery"] = delivery
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/servicenow/webhook", data=body,
                                                                headers=headers) as response:
        return response.status, await response.json()


def rule_payload(ticket: dict[str, Any], **changes: str) -> dict[str, Any]:
    """What the business rule sends for a ticket (from the emulator's snapshot), with `changes`."""
    return {"table": "incident", "operation": "update", "sys_id": ticket["sys_id"], "number": ticket["number"],
            "short_description": ticket["short_description"], "description": ticket["description"],
            "state": ticket["state"], "impact": ticket["impact"], "urgency": ticket["urgency"],
            "assignment_group": ticket["assignment_group"], "category": ticket["category"],
            "correlation_id": ticket["correlation_id"],
            "x_pd_integration_incident": ticket["x_pd_integration_incident"], "updated_by": "jane.agent",
            "updated_on": "2026-11-27 10:07:00", "work_notes": "", "comments": ""} | changes


# ----- outbound: one ticket per incident ---------------------------------------------------------------------------

async def test_a_trigger_makes_exactly_one_ticket_shown_on_the_card_and_topic(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox, "Basket totals are wrong", "PBASKET", urgency="high")
    [ticket] = tickets(sandbox)
    assert ticket["correlation_id"] == incident["id"]
    assert "Basket totals are wrong" in ticket["short_description"]
    assert (ticket["impact"], ticket["urgency"]) == ("1", "1")
    assert ticket["assignment_group"] == "Basket Team"
    assert ticket["caller"] == SERVICENOW_USER
    assert ticket["state"] == "1"
    assert incident["html_url"] in ticket["description"]
    # The bot remembers the ticket, and shows its number (and link) on the card and in the topic.
    row = await sandbox.bot.store.ticket(incident["id"])
    assert row is not None and (row.sys_id, row.number) == (ticket["sys_id"], ticket["number"])
    channel = channel_of(sandbox, incident["id"])
    context = card_context(sandbox, channel)
    assert ticket["number"] in context and ticket["sys_id"] in context
    assert PENDING not in context
    assert ticket["number"] in channel["topic"]
    # The trigger is already the ticket's first work note.
    assert any("Triggered on Basket API" in line for line in note_lines(bot_notes(ticket)))
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_ticket_opened_before_the_card_is_posted_costs_the_card_no_update(sandbox: RunningSandbox) -> None:
    # Slack is slow to create the channel: the ticket is opened meanwhile, and the card posted after shows it. The
    # channel's creation is held until the ticket exists (it was a 1.5 s latency, which a loaded machine outran).
    held = Fault("slack", "conversations.create", times=0, latency_ms=60_000)
    sandbox.sandbox.faults.add(held)
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET")
    try:
        # The ticket exists while the channel still waits for Slack (the ServiceNow lane may open the ticket even
        # before the Slack lane has asked for the channel: a loaded CI machine saw it so, hence both waited for).
        await eventually(lambda: any(t["correlation_id"] == incident["id"] for t in tickets(sandbox))
                         and sandbox.sandbox.faults.held["slack"] == 1)
    finally:
        sandbox.sandbox.faults.rules.remove(held)
        sandbox.sandbox.faults.release_held()
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, incident["id"])
    assert ticket["number"] in card_context(sandbox, channel_of(sandbox, incident["id"]))
    assert state(sandbox)["slack"]["calls"].get("chat.update", 0) == 0  # its refresh was left to the opening


async def test_a_ticket_opened_while_the_card_is_posted_is_shown_by_a_refresh(sandbox: RunningSandbox) -> None:
    # The card is rendered before the ticket exists, and the ticket's outcome comes while the card is being pinned
    # (its refresh left to the opening under way): the opening's outcome refreshes the card. ServiceNow and the pin
    # are held, then released in that order, as the test needs (latencies of 1.5 s and 4 s, which a loaded CI
    # machine reordered: two refreshes).
    held_ticket = Fault("servicenow", "*", times=0, latency_ms=60_000)
    held_pin = Fault("slack", "pins.add", times=0, latency_ms=60_000)
    faults = sandbox.sandbox.faults
    faults.add(held_ticket)
    faults.add(held_pin)
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET")
    try:
        await eventually(lambda: faults.held["slack"] == 1 and faults.held["servicenow"] >= 1)  # the card is posted
        faults.rules.remove(held_ticket)
        faults.release_held("servicenow")
        for _ in range(600):  # the ticket's outcome recorded (30 s at most)
            if await sandbox.bot.store.ticket(incident["id"]) is not None:
                break
            await asyncio.sleep(0.05)
        assert await sandbox.bot.store.ticket(incident["id"]) is not None
        assert faults.held["slack"] == 1  # the card still waits for its pin
    finally:
        faults.rules.remove(held_pin)
        faults.release_held()
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, incident["id"])
    channel = channel_of(sandbox, incident["id"])
    assert ticket["number"] in card_context(sandbox, channel) and ticket["number"] in channel["topic"]
    assert state(sandbox)["slack"]["calls"].get("chat.update", 0) == 1


async def test_a_low_urgency_incident_gets_a_low_impact_ticket(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox, "Slow delivery slot page", "PDELIVS", urgency="low")
    ticket = ticket_for(sandbox, incident["id"])
    assert (ticket["impact"], ticket["urgency"]) == ("3", "3")
    assert ticket["assignment_group"] == "Delivery Team"


async def test_duplicated_trigger_deliveries_make_one_ticket(sandbox: RunningSandbox) -> None:
    kwargs: dict[str, Any] = {"incident_id": "QSNDUP01", "number": 911, "title": "Duplicated trigger"}
    same = incident_event("incident.triggered", **kwargs)
    statuses = [await deliver(sandbox, same, delivery_id="same-delivery") for _ in range(3)]
    # PagerDuty re-sent the trigger under new event ids, concurrently.
    statuses += await asyncio.gather(*(deliver(sandbox, incident_event("incident.triggered", **kwargs))
                                       for _ in range(3)))
    await settle_all(sandbox)
    assert statuses == [202, 200, 200, 202, 202, 202]
    [ticket] = tickets(sandbox)
    assert ticket["correlation_id"] == "QSNDUP01"
    assert state(sandbox)["servicenow"]["calls"].get("POST /api/now/table/incident") == 1
    # The ticket's work notes are the incident's timeline, each line once.
    timeline = [e.text for e in await sandbox.bot.store.timeline("QSNDUP01")]
    assert note_lines(bot_notes(ticket)) == timeline


@pytest.mark.parametrize("field", ["correlation_id", "x_pd_integration_incident"])
async def test_a_ticket_pagerdutys_own_app_made_is_reused(sandbox: RunningSandbox, field: str) -> None:
    # PagerDuty's ServiceNow app raised the ticket for the incident before the bot heard of it.
    existing = await raise_ticket(sandbox, short_description="[PagerDuty] Checkout latency", user="pagerduty.app",
                                  assignment_group="Payments Team", **{field: "QPDAPP01"})
    assert pd_incidents(sandbox) == []  # a ticket linked to an incident pages nobody
    event = incident_event("incident.triggered", incident_id="QPDAPP01", number=912, title="Checkout latency")
    assert await deliver(sandbox, event) == 202
    await settle_all(sandbox)
    [ticket] = tickets(sandbox)
    assert ticket["sys_id"] == existing["sys_id"]
    row = await sandbox.bot.store.ticket("QPDAPP01")
    assert row is not None and row.sys_id == existing["sys_id"] and row.number == existing["number"]
    assert state(sandbox)["servicenow"]["calls"].get("POST /api/now/table/incident") is None
    assert any("Triggered" in line for line in note_lines(bot_notes(ticket)))
    [channel] = incident_channels(sandbox)
    assert existing["number"] in card_context(sandbox, channel) and existing["number"] in channel["topic"]


# ----- outbound: state ---------------------------------------------------------------------------------------------

async def test_acknowledge_then_resolve_moves_the_ticket_and_closes_it_with_a_summary(
        sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    assert ticket_for(sandbox, iid)["state"] == "2"
    channel = channel_of(sandbox, iid)
    await slash_command(sandbox, "resolve Rolled back the 10:02 deploy", channel["id"])
    await until(sandbox, lambda: any(n["content"] == "Resolution: Rolled back the 10:02 deploy"
                                     for n in state(sandbox)["pagerduty"]["notes"]))
    assert next(i for i in pd_incidents(sandbox) if i["id"] == iid)["status"] == "resolved"
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "6"
    assert ticket["close_code"] == "Solved (Permanently)"
    notes = ticket["close_notes"]
    assert "Rolled back the 10:02 deploy" in notes
    assert "Time to acknowledge: " in notes and "time to resolve: " in notes
    assert "Responders: " in notes and "Asha Patel" in notes
    assert incident["html_url"] in notes
    assert f"#{channel['name']}" in notes
    assert len(tickets(sandbox)) == 1
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_the_resolution_note_reaches_close_notes_even_when_it_lands_after_the_resolve(
        sandbox: RunningSandbox) -> None:
    # `/incident resolve <note>` resolves in PagerDuty, then adds "Resolution: <note>" as a PagerDuty note. Here
    # PagerDuty is slow to take the note, so the resolved webhook (and the ticket's closing) comes first.
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    sandbox.sandbox.faults.add(Fault("pagerduty", f"/incidents/{iid}/notes", times=0, latency_ms=1500))
    channel = channel_of(sandbox, iid)
    await slash_command(sandbox, "resolve Rolled back the 10:02 deploy", channel["id"])
    await until(sandbox, lambda: any(n["content"] == "Resolution: Rolled back the 10:02 deploy"
                                     for n in state(sandbox)["pagerduty"]["notes"]))
    assert any("Resolution: Rolled back the 10:02 deploy" in line for line in channel_lines(sandbox, channel))
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "6"
    assert "Rolled back the 10:02 deploy" in ticket["close_notes"]


async def test_resolving_in_pagerduty_resolves_the_ticket(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    await act_all(sandbox, iid, "note", user=ASHA, content="Resolution: restarted the pricing cache")
    await act_all(sandbox, iid, "resolve", user=ASHA)
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "6" and ticket["close_code"] == "Solved (Permanently)"
    assert "Resolution: restarted the pricing cache" in ticket["close_notes"]
    lines = note_lines(bot_notes(ticket))
    assert [line for line in lines if line.startswith(("Acknowledged", "Note", "Resolved"))] == [
        "Acknowledged by Asha Patel", "Note by Asha Patel: Resolution: restarted the pricing cache",
        "Resolved by Asha Patel"]


# ----- outbound: batched work notes --------------------------------------------------------------------------------

async def test_timeline_lines_become_one_work_note_per_flush_exactly_once(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    before = bot_notes(ticket_for(sandbox, iid))
    texts = ["Checked the pricing service logs", "Found a bad rounding rule in 4.2.1", "Rolling back to 4.2.0"]
    for text in texts:
        await act_all(sandbox, iid, "note", user=DEV, content=text)
    # Not yet: the notes wait for the next batch.
    notes = bot_notes(ticket_for(sandbox, iid))
    assert notes == before
    assert not any(text in note for note in notes for text in texts)
    assert await sandbox.bot.flush_work_notes() == 1
    await settle_all(sandbox)
    notes = bot_notes(ticket_for(sandbox, iid))
    assert notes[:len(before)] == before and len(notes) == len(before) + 1
    assert note_lines(notes[-1:]) == [f"Note by Dev Sharma: {text}" for text in texts]
    # Flushing again writes nothing more.
    assert await sandbox.bot.flush_work_notes() == 0
    await settle_all(sandbox)
    assert bot_notes(ticket_for(sandbox, iid)) == notes
    # Every timeline line reached the ticket once, in order.
    timeline = [e.text for e in await sandbox.bot.store.timeline(iid)]
    assert note_lines(notes) == timeline


# ----- outbound: ServiceNow down -----------------------------------------------------------------------------------

async def test_a_ten_minute_servicenow_outage_loses_nothing_and_slack_carries_on(sandbox: RunningSandbox) -> None:
    # ServiceNow answers 503 for 10 minutes of the sandbox's (simulated) time, set as a user would.
    await post_json(sandbox, "POST", "/sandbox/faults", {"service": "servicenow", "method": "/api/now/table",
                                                         "status": 503, "for_seconds": 600})
    pd = sandbox.sandbox.pagerduty
    incident = await pd.trigger(title="Basket totals are wrong", service_id="PBASKET", urgency="high")
    iid = incident["id"]
    await settle_except_servicenow(sandbox, iid)
    channel = channel_of(sandbox, iid)
    assert PENDING in card_context(sandbox, channel)
    assert tickets(sandbox) == []

    async def in_pagerduty(action: str, **fields: Any) -> None:
        await post_json(sandbox, "POST", f"/sandbox/pagerduty/incidents/{iid}/{action}", fields)
        await settle_except_servicenow(sandbox, iid)

    await in_pagerduty("acknowledge", user=ASHA)
    texts = ["Checked the pricing service logs", "Found a bad rounding rule in 4.2.1"]
    for text in texts:
        await in_pagerduty("note", user=DEV, content=text)
    await sandbox.bot.flush_work_notes()  # the scheduler's batch comes round during the outage
    await in_pagerduty("note", user=ASHA, content="Resolution: rolled back to 4.2.0")
    await in_pagerduty("resolve", user=ASHA)
    # Slack is unaffected: the channel, its card and the whole timeline; the card says ServiceNow is behind.
    channel = channel_of(sandbox, iid)
    assert channel["topic"].startswith("✅ Resolved")
    assert PENDING in card_context(sandbox, channel)
    slack_text = "\n".join(channel_lines(sandbox, channel))
    for expected in ("Triggered on Basket API", "Acknowledged by Asha Patel", *texts, "Resolved by Asha Patel"):
        assert expected in slack_text, expected
    assert tickets(sandbox) == []
    assert state(sandbox)["servicenow"]["calls"]  # the bot kept trying
    assert (await sandbox.bot.readiness())["dead_effects"] == []

    for _ in range(9):  # nine simulated minutes pass: ServiceNow is still down
        await post_json(sandbox, "POST", "/sandbox/clock", {"advance_seconds": 60})
    await settle_except_servicenow(sandbox, iid)
    assert tickets(sandbox) == []
    await post_json(sandbox, "POST", "/sandbox/clock", {"advance_seconds": 120})  # past the ten minutes: back
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, iid)
    assert len(tickets(sandbox)) == 1
    assert ticket["state"] == "6" and ticket["close_code"] == "Solved (Permanently)"
    assert "Resolution: rolled back to 4.2.0" in ticket["close_notes"]
    timeline = [e.text for e in await sandbox.bot.store.timeline(iid)]
    assert note_lines(bot_notes(ticket)) == timeline  # every line once, in order
    for expected in ("Acknowledged by Asha Patel", *texts, "Resolved by Asha Patel"):
        assert sum(expected in line for line in timeline) == 1, expected
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    channel = channel_of(sandbox, iid)
    assert ticket["number"] in channel["topic"]
    assert ticket["number"] in card_context(sandbox, channel) and PENDING not in card_context(sandbox, channel)


@pytest.mark.parametrize("resolve", [False, True], ids=["acknowledged", "resolved"])
async def test_after_a_servicenow_outage_the_card_no_longer_says_pending(sandbox: RunningSandbox,
                                                                        resolve: bool) -> None:
    faults = sandbox.sandbox.faults
    faults.add(Fault("servicenow", "/api/now/table", status=503, times=100_000))
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET")
    iid = incident["id"]
    await settle_except_servicenow(sandbox, iid)
    for action in ("acknowledge", "resolve") if resolve else ("acknowledge",):
        await post_json(sandbox, "POST", f"/sandbox/pagerduty/incidents/{iid}/{action}", {"user": ASHA})
        await settle_except_servicenow(sandbox, iid)
    assert PENDING in card_context(sandbox, channel_of(sandbox, iid))
    faults.clear()
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == ("6" if resolve else "2")
    assert (await sandbox.bot.store.depths())["outbox_pending"] == 0  # nothing is waiting for ServiceNow any more
    context = card_context(sandbox, channel_of(sandbox, iid))
    assert ticket["number"] in context
    assert PENDING not in context


# ----- inbound: tickets page teams ---------------------------------------------------------------------------------

async def test_a_ticket_for_a_team_pages_it_and_opens_the_incident_channel(sandbox: RunningSandbox) -> None:
    raised = await raise_ticket(sandbox, short_description="Customers cannot pay by card",
                                assignment_group="Payments Team", user="service.desk")
    [paged] = pd_incidents(sandbox)
    assert paged["service_id"] == "PCHECKO"
    assert paged["title"].startswith(raised["number"]) and "Customers cannot pay by card" in paged["title"]
    assert paged["incident_key"] == f"servicenow:{raised['sys_id']}"
    # The normal flow follows: the team's channel for the incident opens.
    channel = channel_of(sandbox, paged["id"])
    assert raised["number"].lower() in channel["name"]
    # The ticket is linked to the page, says so, and is the incident's ticket (no second one).
    [ticket] = tickets(sandbox)
    assert ticket["sys_id"] == raised["sys_id"]
    assert ticket["correlation_id"] == paged["id"]
    assert any(paged["html_url"] in note for note in bot_notes(ticket))
    row = await sandbox.bot.store.ticket(paged["id"])
    assert row is not None and row.sys_id == raised["sys_id"]
    assert raised["number"] in channel["topic"]
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_ticket_for_a_team_stays_the_only_ticket_when_servicenow_is_slow_to_link_it(
        sandbox: RunningSandbox) -> None:
    # ServiceNow is slow on record updates (PATCH .../incident/{sys_id}): the page's PagerDuty incident reaches the
    # bot before the raised ticket carries its correlation id.
    sandbox.sandbox.faults.add(Fault("servicenow", "/api/now/table/incident/", times=0, latency_ms=1500))
    raised = await raise_ticket(sandbox, short_description="Customers cannot pay by card",
                                assignment_group="Payments Team")
    [paged] = pd_incidents(sandbox)
    assert [t["sys_id"] for t in tickets(sandbox)] == [raised["sys_id"]]
    assert ticket_for(sandbox, paged["id"])["sys_id"] == raised["sys_id"]


async def test_a_ticket_with_the_paging_category_but_no_group_pages_nobody_and_says_why(
        sandbox: RunningSandbox) -> None:
    raised = await raise_ticket(sandbox, short_description="Payments page is blank", category="Product team")
    assert pd_incidents(sandbox) == []
    [ticket] = tickets(sandbox)
    [note] = bot_notes(ticket)
    assert "'(none)' is not a team" in note and "no one was paged" in note
    assert any(raised["number"] in line and "nobody was paged" in line for line in ops_lines(sandbox))


async def test_a_ticket_raised_to_page_a_group_that_is_no_team_gets_a_note_and_tells_the_operators(
        sandbox: RunningSandbox) -> None:
    raised = await raise_ticket(sandbox, short_description="Printer on fire", assignment_group="Service Desk",
                                category="Product team")
    assert pd_incidents(sandbox) == []
    assert incident_channels(sandbox) == []
    [ticket] = tickets(sandbox)
    [note] = bot_notes(ticket)
    assert "'Service Desk' is not a team" in note and "no one was paged" in note
    [alert] = [line for line in ops_lines(sandbox) if raised["number"] in line]
    assert "`Service Desk`" in alert and "nobody was paged" in alert


async def test_a_group_name_with_markup_reaches_the_operators_as_words_and_pings_nobody(
        sandbox: RunningSandbox) -> None:
    hostile = "<!channel> <https://evil.example|click> & *bold*"
    sandbox.sandbox.servicenow.add_group(hostile)  # as an admin may name a group
    raised = await raise_ticket(sandbox, short_description="Printer on fire", assignment_group=hostile,
                                category="Product team")
    [alert] = [line for line in ops_lines(sandbox) if raised["number"] in line]
    shown = mrkdwn(alert, Names(user=lambda _: None, channel=lambda _: None))
    assert 'class="mention"' not in shown and "<a " not in shown and "<strong>" not in shown
    assert html.unescape(re.findall(r"<code>(.*?)</code>", shown)[1]) == hostile


async def test_a_ticket_with_no_group_and_another_category_is_left_alone(sandbox: RunningSandbox) -> None:
    await raise_ticket(sandbox, short_description="How do I reset my password?", category="inquiry")
    assert pd_incidents(sandbox) == []
    [ticket] = tickets(sandbox)
    assert bot_notes(ticket) == []
    assert ops_lines(sandbox) == []


# ----- inbound: work notes from people -----------------------------------------------------------------------------

async def test_work_notes_people_add_in_servicenow_reach_the_timeline_and_ours_are_not_echoed(
        sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    ticket = ticket_for(sandbox, iid)
    assert bot_notes(ticket)  # the bot has written work notes of its own
    await journal(sandbox, ticket["sys_id"], "Customer 4411 confirms checkout works again", "jane.agent")
    await journal(sandbox, ticket["sys_id"], "We are on it", "jane.agent", element="comments")
    channel = channel_of(sandbox, iid)
    from_servicenow = [line for line in channel_lines(sandbox, channel) if "ServiceNow" in line]
    assert len(from_servicenow) == 2, from_servicenow
    assert "jane.agent" in from_servicenow[0] and "Customer 4411 confirms checkout works again" in from_servicenow[0]
    assert "jane.agent" in from_servicenow[1] and "We are on it" in from_servicenow[1]
    assert not any(SERVICENOW_USER in line for line in channel_lines(sandbox, channel))
    # A person's note is not written back to the ticket as the bot's.
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    assert not any("Customer 4411" in note for note in bot_notes(ticket_for(sandbox, iid)))
    # The business rule (its integration_user property set, as the README says) sent only the people's updates.
    deliveries = state(sandbox)["servicenow"]["webhook_deliveries"]
    assert len(deliveries) == 2 and all(d["status"] == "delivered" for d in deliveries)


async def test_without_the_integration_user_property_the_bots_own_updates_come_back_and_are_dropped(
        sandbox: RunningSandbox) -> None:
    sandbox.sandbox.servicenow.integration_user = None  # the business rule's third property not set
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, iid)
    assert bot_notes(ticket)
    deliveries = state(sandbox)["servicenow"]["webhook_deliveries"]
    assert deliveries and all(d["status"] == "delivered" and d["http_status"] == 200 for d in deliveries)
    assert not any(SERVICENOW_USER in line for line in channel_lines(sandbox, channel_of(sandbox, iid)))


# ----- inbound: bad input ------------------------------------------------------------------------------------------

async def test_the_servicenow_webhook_refuses_bad_input_with_reasons(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    ticket = ticket_for(sandbox, incident["id"])
    good = json.dumps(rule_payload(ticket, work_notes="hello")).encode()
    # Authentication: no signature, a wrong one, one made with another secret.
    assert (await sn_webhook(sandbox, good, signature=None))[0] == 401
    assert (await sn_webhook(sandbox, good, signature="0" * 64))[0] == 401
    other = hmac.new(b"not-the-secret", good, hashlib.sha256).hexdigest()
    status, answer = await sn_webhook(sandbox, good, signature=other)
    assert status == 401 and "X-ServiceNow-Signature" in answer["error"]
    # Shape: not JSON, not an object, missing fields, another table.
    status, answer = await sn_webhook(sandbox, b"table=incident&sys_id=1")
    assert status == 400 and "not JSON" in answer["error"]
    status, answer = await sn_webhook(sandbox, b"[1, 2]")
    assert status == 400 and "not a JSON object" in answer["error"]
    status, answer = await sn_webhook(sandbox, json.dumps({"table": "incident", "operation": "update"}).encode())
    assert status == 400 and "missing field(s)" in answer["error"] and "sys_id" in answer["error"]
    problem = json.dumps(rule_payload(ticket) | {"table": "problem"}).encode()
    status, answer = await sn_webhook(sandbox, problem)
    assert status == 400 and "'problem'" in answer["error"]
    await settle_all(sandbox)
    channel = channel_of(sandbox, incident["id"])
    assert not any("hello" in line for line in channel_lines(sandbox, channel))


async def test_a_replayed_servicenow_delivery_is_done_once(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    ticket = ticket_for(sandbox, incident["id"])
    body = json.dumps(rule_payload(ticket, work_notes="Store 12 reports the same")).encode()
    delivery = str(uuid.uuid4())
    first = await sn_webhook(sandbox, body, delivery=delivery)
    second = await sn_webhook(sandbox, body, delivery=delivery)
    assert first == (202, {"status": "accepted", "delivery": delivery})
    assert second == (200, {"status": "duplicate", "delivery": delivery})
    # Without a delivery id, the same body is the same delivery too.
    plain = json.dumps(rule_payload(ticket, work_notes="Store 14 as well")).encode()
    assert [(await sn_webhook(sandbox, plain))[0] for _ in range(2)] == [202, 200]
    await settle_all(sandbox)
    lines = channel_lines(sandbox, channel_of(sandbox, incident["id"]))
    assert sum("Store 12 reports the same" in line for line in lines) == 1
    assert sum("Store 14 as well" in line for line in lines) == 1


async def test_tickets_of_groups_that_are_no_team_are_left_alone_however_often_they_change(
        sandbox: RunningSandbox) -> None:
    raised = await raise_ticket(sandbox, short_description="Printer jammed", assignment_group="Service Desk")
    await journal(sandbox, raised["sys_id"], "Tried turning it off and on", "service.desk")
    await settle_all(sandbox)
    [ticket] = tickets(sandbox)
    assert bot_notes(ticket) == [] and pd_incidents(sandbox) == []
    assert not [line for line in ops_lines(sandbox) if raised["number"] in line]


async def test_every_update_of_an_unlinked_team_ticket_converges_on_one_page(sandbox: RunningSandbox) -> None:
    answer = await post_json(sandbox, "POST", "/sandbox/servicenow/incidents",
                             {"short_description": "Card payments failing", "assignment_group": "Payments Team"})
    raised = answer["result"]
    # The service desk keeps editing the ticket before it is linked: each of these updates pages again.
    for text in ("Customer on the phone", "Second customer", "Third"):
        await post_json(sandbox, "POST", f"/sandbox/servicenow/incidents/{raised['sys_id']}/work_notes",
                        {"text": text, "user": "service.desk"})
    await settle_all(sandbox)
    assert len(pd_incidents(sandbox)) == 1
    [ticket] = [t for t in tickets(sandbox) if t["sys_id"] == raised["sys_id"]]
    assert sum("paged Payments" in n for n in bot_notes(ticket)) == 1
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_the_ticket_links_the_slack_channel_once(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    channel = channel_of(sandbox, incident["id"])
    await act_all(sandbox, incident["id"], "acknowledge", user=ASHA)
    await act_all(sandbox, incident["id"], "resolve", user=ASHA)
    ticket = ticket_for(sandbox, incident["id"])
    link = f"https://slack.com/app_redirect?channel={channel['id']}"
    assert sum(link in note for note in bot_notes(ticket)) == 1
    assert link in ticket["close_notes"]
    assert f"#{channel['name']}" in ticket["close_notes"]


# ----- outbound: calls per incident --------------------------------------------------------------------------------

def servicenow_calls(running: RunningSandbox) -> dict[str, int]:
    calls: dict[str, int] = state(running)["servicenow"]["calls"]
    return calls


async def test_an_incident_never_reads_the_journal_and_sends_each_note_with_the_state_and_the_link_in_the_first(
        sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    await act_all(sandbox, iid, "resolve", user=ASHA)
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "6"
    assert note_lines(bot_notes(ticket)) == [e.text for e in await sandbox.bot.store.timeline(iid)]
    calls = servicenow_calls(sandbox)
    # Each batch of lines was begun by the attempt that sent it, so nobody can have sent it before: no journal read.
    assert calls.get("GET /api/now/table/sys_journal_field", 0) == 0
    # The channel's link with the first line it can go with; the acknowledgement's line with state 2; the
    # resolution's with state 6 and the closing notes (each update is also a call back from the business rule).
    assert calls.get("PATCH /api/now/table/incident/{sys_id}", 0) == 3
    link = f"Slack channel for this incident: https://slack.com/app_redirect?channel={channel_of(sandbox, iid)['id']}"
    assert [note.splitlines()[0] for note in bot_notes(ticket) if link in note] == [link]
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_batch_an_earlier_attempt_may_have_delivered_is_looked_for_and_not_written_twice(
        sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    await act_all(sandbox, iid, "note", user=DEV, content="Checked the pricing service logs")
    ticket = ticket_for(sandbox, iid)
    # An attempt began the batch and delivered its note, but its answer was lost (a timeout): the batch is open.
    batch = await sandbox.bot.store.work_note_batch(iid)
    assert [e.text for e in batch.entries] == ["Note by Dev Sharma: Checked the pricing service logs"]
    marker = f"[paved-road {batch.id}]"
    await journal(sandbox, ticket["sys_id"], f"10:00:00Z Note by Dev Sharma: Checked the pricing service logs\n"
                                             f"{marker}", user=SERVICENOW_USER)
    assert await sandbox.bot.flush_work_notes() == 1
    await settle_all(sandbox)
    assert sum(marker in note for note in bot_notes(ticket_for(sandbox, iid))) == 1
    assert (await sandbox.bot.store.work_note_batch(iid)).entries == []  # told: nothing left to send


async def test_an_update_servicenow_refuses_for_good_still_lets_the_note_through(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    # The acknowledgement's note and state go as one update; ServiceNow refuses it once (as it would a value it will
    # not take): the note goes alone, then the state.
    sandbox.sandbox.faults.add(Fault("servicenow", "PATCH /api/now/table/incident/", status=400, times=1))
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    ticket = ticket_for(sandbox, iid)
    assert [line for line in note_lines(bot_notes(ticket)) if line.startswith("Acknowledged")] == [
        "Acknowledged by Asha Patel"]
    assert ticket["state"] == "2"
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_state_change_refused_for_good_does_not_hold_back_later_notes(sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    # The instance refuses any change of state from now on (a data policy the bot cannot meet), but takes notes.
    sandbox.sandbox.faults.add(Fault("servicenow", "PATCH /api/now/table/incident/", status=403, with_field="state",
                                     until=time.time() + 3600))
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    await act_all(sandbox, iid, "note", user=DEV, content="Rolled back the pricing deploy")
    await sandbox.bot.flush_work_notes()  # notes wait for the next batch
    await settle_all(sandbox)
    ticket = ticket_for(sandbox, iid)
    lines = note_lines(bot_notes(ticket))
    # Each line reaches the ticket once, the later one too; the state stays where the instance keeps it.
    assert lines.count("Acknowledged by Asha Patel") == 1
    assert any(line.endswith("Rolled back the pricing deploy") for line in lines), lines
    assert ticket["state"] == "1"


async def test_a_link_note_that_may_have_gone_alone_is_looked_for_and_not_carried_again(
        sandbox: RunningSandbox) -> None:
    incident = await triggered(sandbox)
    iid = incident["id"]
    link = f"https://slack.com/app_redirect?channel={channel_of(sandbox, iid)['id']}"
    assert sum(link in note for note in bot_notes(ticket_for(sandbox, iid))) == 1
    # As if a note of the link alone had been sent and its answer lost (recorded as sent, not as told).
    row = await sandbox.bot.store.ticket(iid)
    assert row is not None and row.channel_told == 1
    await sandbox.bot.store.save_ticket(replace(row, channel_told=2))
    await act_all(sandbox, iid, "acknowledge", user=ASHA)
    # The acknowledgement's note does not carry the link: the journal was looked at first, and it is there.
    ticket = ticket_for(sandbox, iid)
    assert sum(link in note for note in bot_notes(ticket)) == 1
    assert "Acknowledged by Asha Patel" in note_lines(bot_notes(ticket)) and ticket["state"] == "2"
    assert servicenow_calls(sandbox).get("GET /api/now/table/sys_journal_field", 0) == 1
    row = await sandbox.bot.store.ticket(iid)
    assert row is not None and row.channel_told == 1


async def test_the_first_note_waits_for_a_channel_being_opened_and_carries_its_link(sandbox: RunningSandbox) -> None:
    # The channel is slow to open: the ticket's first sync finds no channel yet and leaves the trigger's line for the
    # sync the channel's opening asks for, which tells it with the link, in one update (not the line, then the link).
    sandbox.sandbox.faults.add(Fault("slack", "conversations.create", times=0, latency_ms=1500))
    incident = await triggered(sandbox)
    iid = incident["id"]
    link = f"https://slack.com/app_redirect?channel={channel_of(sandbox, iid)['id']}"
    [note] = bot_notes(ticket_for(sandbox, iid))
    assert link in note and "Triggered on Basket API" in note
    calls = servicenow_calls(sandbox)
    assert calls.get("PATCH /api/now/table/incident/{sys_id}", 0) == 1
    assert calls.get("GET /api/now/table/sys_journal_field", 0) == 0
    row = await sandbox.bot.store.ticket(iid)
    assert row is not None and row.channel_told == 1


async def test_a_link_sent_alone_on_an_effects_first_attempt_reads_no_journal(sandbox: RunningSandbox) -> None:
    # Acknowledged before its slow channel opens: the ticket must hear the state now, so the lines go without the
    # link, and the channel's opening then asks for a sync with only the link to tell. Nobody can have sent that
    # note before (recorded as not sent, and no earlier attempt of this effect): it goes without a journal read.
    sandbox.sandbox.faults.add(Fault("slack", "conversations.create", times=0, latency_ms=1500))
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET",
                                                       urgency="high")
    iid = incident["id"]
    await act(sandbox, iid, "acknowledge", user=ASHA)
    await settle_all(sandbox)
    link = f"https://slack.com/app_redirect?channel={channel_of(sandbox, iid)['id']}"
    notes = bot_notes(ticket_for(sandbox, iid))
    assert sum(link in note for note in notes) == 1
    assert any(link in note and "Acknowledged" not in note for note in notes)  # a note of its own
    assert ticket_for(sandbox, iid)["state"] == "2"
    assert servicenow_calls(sandbox).get("GET /api/now/table/sys_journal_field", 0) == 0
    row = await sandbox.bot.store.ticket(iid)
    assert row is not None and row.channel_told == 1


# ----- the first lines and the channel's link (found in review of session 6) ------------------------------------

async def test_with_slack_down_at_the_trigger_the_first_lines_reach_the_ticket_at_once(
        sandbox: RunningSandbox) -> None:
    # The first lines wait a little for the channel's link; a channel that cannot be opened holds nothing back.
    sandbox.sandbox.faults.add(Fault("slack", "conversations.create", status=503, times=1000))
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET",
                                                       urgency="high")
    await settle_all(sandbox)
    [ticket] = tickets(sandbox)
    [note] = bot_notes(ticket)
    assert "Triggered on Basket API" in note and "Slack channel" not in note
    assert incident_channels(sandbox) == [] and incident["id"]


async def test_an_opening_retried_after_its_channel_was_saved_still_sends_the_lines_with_the_link(
        sandbox: RunningSandbox) -> None:
    # The channel is made (slowly: the ticket's first sync finds none yet), then the card's pin fails once: the
    # opening's retry, not only its first attempt, tells the ticket the channel.
    sandbox.sandbox.faults.add(Fault("slack", "conversations.create", times=0, latency_ms=1500))
    sandbox.sandbox.faults.add(Fault("slack", "pins.add", status=500, times=1))
    incident = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET",
                                                       urgency="high")
    await settle_all(sandbox)
    [ticket] = tickets(sandbox)
    [note] = bot_notes(ticket)
    assert "Slack channel for this incident" in note and "Triggered on Basket API" in note, note
    assert not (await sandbox.bot.store.work_note_batch(incident["id"])).entries


async def test_a_ticket_opened_while_the_opening_waits_for_its_retry_is_shown_on_the_card(
        sandbox: RunningSandbox) -> None:
    """The opening's first attempt posts the card (no ticket yet) and fails at its pin; the ticket opens meanwhile,
    its card refresh left to the opening under way; the retry finds the card already posted, so it is the retry's
    outcome that refreshes it: the card shows the ticket, as the topic does (found in review: it did not)."""
    sandbox.sandbox.faults.latency_ms["servicenow"] = 700
    sandbox.sandbox.faults.add(Fault("slack", "pins.add", times=0, latency_ms=3000))
    sandbox.sandbox.faults.add(Fault("slack", "pins.add", status=500, times=1))
    incident = await triggered(sandbox)
    ticket = ticket_for(sandbox, incident["id"])
    channel = channel_of(sandbox, incident["id"])
    assert ticket["number"] in channel["topic"]
    assert ticket["number"] in card_context(sandbox, channel)
