"""Raises, moves and answers out of order (found in the review of session 26's commits): a ticket's priority raised
around its page, a desk note on a ticket the bot set to P1, people asked to respond and their declines, the team
channel hearing of a move, and the event kinds a provisioned subscription sends — each bug with the test that shows
it, against the sandbox's emulators."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from bot.adapters.pagerduty.admin import PagerDutyApi
from bot.app.cli.provision import ProvisionSettings, run_provision
from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    as_user,
    card,
    deliver,
    eventually,
    incident_channels,
    messages,
    replies,
    settle,
    state,
    trigger,
)
from tests.e2e.servicenow_helpers import settle_all, tickets
from tests.helpers import PROVISIONING_CATALOGUE, StartSandbox, envelope

ASHA, BEN, DEV = "asha.patel@example.com", "ben.okafor@example.com", "dev.sharma@example.com"


# ----- helpers -----------------------------------------------------------------------------------------------------


def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


def ticket(running: RunningSandbox, sys_id: str) -> dict[str, Any]:
    return next(t for t in tickets(running) if t["sys_id"] == sys_id)


def everything_said(running: RunningSandbox) -> str:
    return "\n".join(str(m.get("text") or "") for m in state(running)["slack"]["messages"])


def desk_raises(running: RunningSandbox) -> dict[str, str]:
    """The service desk raises a ticket for Payments with ServiceNow's default levels (3/3: a low-urgency page)."""
    raised: dict[str, str] = running.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team"}, user="service.desk")
    return raised


async def paged(running: RunningSandbox) -> tuple[dict[str, str], dict[str, Any]]:
    raised = desk_raises(running)
    await settle_all(running)
    [page] = pd_incidents(running)
    assert ticket(running, raised["sys_id"])["correlation_id"] == page["id"] and page["urgency"] == "low"
    return raised, page


async def desk_sets(running: RunningSandbox, sys_id: str, **fields: str) -> None:
    running.sandbox.servicenow.update_incident(sys_id, fields, user="service.desk")
    await running.bot.flush_work_notes()
    await settle_all(running)


async def applied(running: RunningSandbox) -> None:
    """Both systems' webhooks delivered and every delivery applied — not waiting for the effects they queue (a call
    the test holds on purpose keeps the bot from settling)."""
    await running.sandbox.servicenow.drain_webhooks()
    await running.sandbox.pagerduty.drain_webhooks()
    for _ in range(500):
        if (await running.bot.store.depths())["inbox_pending"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the bot did not apply its deliveries")


async def held(running: RunningSandbox) -> None:
    """A PagerDuty call of the bot's is waiting out the latency the test gave it."""
    await eventually(lambda: running.sandbox.faults.held["pagerduty"] >= 1)


def release(running: RunningSandbox) -> None:
    running.sandbox.faults.clear()


# ----- 9325aa5: a ticket's priority raised around its page --------------------------------------------------------


async def test_a_ticket_raised_while_its_page_is_being_made_pages_at_high_urgency(sandbox: RunningSandbox) -> None:
    """The desk raised a ticket at the default levels, then to P1 a moment later, while PagerDuty was slow to make the
    page: the page was made at the urgency the first update asked for (low), and the P1 update's page only found it
    and linked it again. Nothing raises it until the desk happens to touch the ticket again: a P1 that wakes nobody."""
    sandbox.sandbox.faults.add(Fault("pagerduty", "POST /incidents", times=0, latency_ms=60_000))
    raised = desk_raises(sandbox)
    await applied(sandbox)
    await held(sandbox)  # the page is being made (at low urgency)
    sandbox.sandbox.servicenow.update_incident(raised["sys_id"], {"impact": "1", "urgency": "1"},
                                               user="service.desk")
    await applied(sandbox)
    release(sandbox)
    await settle_all(sandbox)
    assert ticket(sandbox, raised["sys_id"])["priority"] == "1"
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["high"], "a P1 ticket's page stayed at low urgency"


async def test_an_acknowledgement_while_the_page_is_being_raised_keeps_the_desks_priority(
        sandbox: RunningSandbox) -> None:
    """The desk raises the ticket to P1; while PagerDuty is slow to take the raise, the on-call acknowledges the page.
    The acknowledgement's webhook still says low urgency: the bot records the incident low again, its card says low,
    and it writes the ticket's levels back to 3/3 — the desk's P1 undone by the bot — while the page then goes high."""
    raised, page = await paged(sandbox)
    sandbox.sandbox.faults.add(Fault("pagerduty", f"PUT /incidents/{page['id']}", times=0, latency_ms=60_000))
    sandbox.sandbox.servicenow.update_incident(raised["sys_id"], {"impact": "1", "urgency": "1"},
                                               user="service.desk")
    await applied(sandbox)
    await held(sandbox)  # the raise is on its way to PagerDuty
    pd = sandbox.sandbox.pagerduty
    user = pd.account.user_by_email(BEN)
    assert user is not None
    pd.account.acknowledge(pd.account.incident(page["id"]), user)
    await applied(sandbox)
    release(sandbox)
    await settle_all(sandbox)
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["high"]
    assert ticket(sandbox, raised["sys_id"])["priority"] == "1", "the bot set the desk's P1 back to the page's P5"
    [channel] = incident_channels(sandbox)
    assert "high / " in str(card(sandbox, channel)["blocks"])


async def test_a_raise_pagerduty_refuses_leaves_the_page_low_on_the_card(sandbox: RunningSandbox) -> None:
    """The desk raises the ticket to P1 and PagerDuty refuses the raise for good (the requester may not change the
    incident): the operators are told to raise it by hand. The bot held the page high against every snapshot saying
    low, waiting for a raise that would never come: its card said high urgency until the resolve, while PagerDuty
    paged at low. Refused, the page is low again on the card; the desk's P1 stays theirs."""
    raised, page = await paged(sandbox)
    sandbox.sandbox.faults.add(Fault("pagerduty", f"PUT /incidents/{page['id']}", status=403, times=1_000,
                                     error="Access Denied"))
    sandbox.sandbox.servicenow.update_incident(raised["sys_id"], {"impact": "1", "urgency": "1"},
                                               user="service.desk")
    await settle_all(sandbox)
    release(sandbox)
    pd = sandbox.sandbox.pagerduty
    user = pd.account.user_by_email(BEN)
    assert user is not None
    pd.account.acknowledge(pd.account.incident(page["id"]), user)  # its snapshot says low, as PagerDuty has it
    await settle_all(sandbox)
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["low"]
    [channel] = incident_channels(sandbox)
    assert "low / " in str(card(sandbox, channel)["blocks"]), "the card said high urgency, PagerDuty paging low"
    assert ticket(sandbox, raised["sys_id"])["priority"] == "1", "the desk's P1 is the desk's"


async def test_a_desk_note_on_a_ticket_the_bot_set_to_p1_says_nobody_raised_it(sandbox: RunningSandbox) -> None:
    """The page stays low urgency while its responders set priority P1 in PagerDuty; the bot writes P1's levels (1/1)
    to the ticket, as the ticket follows the incident's levels. The desk then only adds a work note: the bot says
    "service.desk — raised the ticket to priority 1, so its page goes to high urgency" and raises the page — the
    desk raised nothing, and the responders had chosen the urgency."""
    raised, page = await paged(sandbox)
    await act(sandbox, page["id"], "priority", user=BEN, priority="P1")
    await settle_all(sandbox)
    assert ticket(sandbox, raised["sys_id"])["priority"] == "1"  # the bot's write, following PagerDuty
    await desk_sets(sandbox, raised["sys_id"], work_notes="Customers calling about failed card payments")
    assert "Customers calling" in everything_said(sandbox)
    assert "raised the ticket to priority" not in everything_said(sandbox)
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["low"], "the responders' urgency stands"


# ----- 5f67534: people asked to respond ---------------------------------------------------------------------------


async def test_a_request_delivered_after_its_decline_does_not_make_a_responder(start_sandbox: StartSandbox,
                                                                               catalogue: Catalogue) -> None:
    """Dev is asked to respond (10:20) and declines (10:30); PagerDuty delivers the decline first, then the request.
    Dev, who said no, is taken for a responder and may add notes with `permissions.note: responders`."""
    restricted = catalogue.model_copy(update={"permissions": catalogue.permissions.model_copy(
        update={"note": "responders"})})
    running = await start_sandbox(restricted)
    incident = await trigger(running)
    [channel] = incident_channels(running)
    pd = running.sandbox.pagerduty
    dev = pd.account.user_by_email(DEV)
    assert dev is not None

    def responder(state_: str) -> dict[str, Any]:
        return {"incident": pd.shapes.ref("incident", incident["id"], incident["title"]), "type": "incident_responder",
                "user": {"id": dev.id, "type": "user_reference", "summary": "Dev Sharma"}, "escalation_policy": None,
                "message": "Can you look at the DB?", "state": state_}

    declined = envelope("incident.responder.replied", responder("declined"), occurred_at="2026-11-25T12:30:00.000Z",
                        agent=dev.id)
    asked = envelope("incident.responder.added", responder("pending"), occurred_at="2026-11-25T12:20:00.000Z")
    assert await deliver(running, declined) == 202
    await settle(running)
    assert await deliver(running, asked) == 202
    await settle(running)
    answer = await as_user(running, "command", user=DEV, channel=channel["id"], text="note the replica lag is 40 s")
    await settle(running)
    assert "Only #" in replies(answer) and "responders" in replies(answer), replies(answer)


# ----- 51edc6c: the team channel hears of a move ------------------------------------------------------------------


async def test_a_move_from_a_service_announced_in_the_default_channel_is_announced_to_the_new_team(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Basket names no team channel, so its incidents are announced in #incidents (the default). Triaged within
    minutes to Checkout (Payments'), the incident was to be announced in #team-payments: the bot looked there and in
    #incidents for the announcement's marker, found the first announcement in #incidents, and said nothing — the
    team now owning the incident never heard of it."""
    teams = [t.model_copy(update={"slack_channel": None}) if t.id == "basket" else t for t in catalogue.teams]
    running = await start_sandbox(catalogue.model_copy(update={"teams": teams}))
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    [channel] = incident_channels(running)
    default = next(c for c in state(running)["slack"]["channels"] if c["name"] == "incidents")
    assert any(channel["id"] in m["text"] for m in messages(running, default["id"]))
    pd = running.sandbox.pagerduty
    data = dict(pd.shapes.webhook_incident(pd.account.incident(incident["id"])),
                service=pd.shapes.service_ref("PCHECKO"))
    pd.emit_event("incident.service_updated", incident["id"], user_email=ASHA, data=data)
    await settle(running)
    payments = next(c for c in state(running)["slack"]["channels"] if c["name"] == "team-payments")
    assert any(channel["id"] in m["text"] for m in messages(running, payments["id"])), "Payments never heard of it"


# ----- 6f9867a / 463d130 / 51edc6c: the event kinds the features read ----------------------------------------------


async def test_a_provisioned_webhook_subscription_sends_the_event_kinds_the_bot_now_reads(
        sandbox: RunningSandbox) -> None:
    """`pavedroad provision apply` subscribes each service's webhook to the event types the bot reads — a list that
    left out incident.service_updated, incident.role.assigned and incident.conference_bridge.updated. PagerDuty then
    never sends them: no "Moved to …" line, so the ticket's group never follows a move to another team (it waits for
    that line), and no role or bridge line, whatever the channel was promised."""
    keys = sandbox.sandbox.keys
    environment = {"PAGERDUTY_API_TOKEN": keys.pagerduty_api_token,
                   "PAGERDUTY_API_URL": f"{sandbox.url}/sandbox/pagerduty/api", "PAVEDROAD_PUBLIC_URL": sandbox.url,
                   "SLACK_BOT_TOKEN": keys.slack_bot_token, "SLACK_API_URL": f"{sandbox.url}/sandbox/slack/api/"}

    def api(settings: ProvisionSettings) -> PagerDutyApi:
        return PagerDutyApi(settings.pagerduty_api_token, settings.pagerduty_api_url, sleep=lambda _: None)

    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(run_provision, "apply", prune=False, catalogue_path=PROVISIONING_CATALOGUE,
                                   env=environment, out=out, err=err, api_factory=api)
    assert code == 0, err.getvalue()
    hooks = state(sandbox)["pagerduty"]["webhook_subscriptions"]
    assert hooks
    for hook in hooks:
        assert {"incident.service_updated", "incident.role.assigned",
                "incident.conference_bridge.updated"} <= set(hook["events"]), hook["events"]
