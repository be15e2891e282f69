"""Tickets raised in ServiceNow that page a team, end to end through the sandbox: when ServiceNow moves faster than
PagerDuty answers (a ticket resolved or cancelled by the service desk before the page could be made pages nobody, and
stays resolved; one reassigned before its page was made pages its new team), at the urgency the ticket's priority
says, once even when its page was resolved before ServiceNow took the link, whatever another tool put in its
correlation id, and however long its description."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, incident_channels, messages, state
from tests.e2e.servicenow_helpers import bot_notes, settle_all, tickets
from tests.helpers import StartSandbox

HELD_MS = 8000
CLOSED_BY_THE_DESK = {"state": "7", "close_code": "Solved (Permanently)", "close_notes": "A duplicate of INC0009001"}


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"])]


@pytest.mark.parametrize("state_fields", [
    {"state": "6", "close_code": "Solved (Permanently)", "close_notes": "The customer had typed the card wrong"},
    {"state": "8"},
], ids=["resolved", "cancelled"])
async def test_a_ticket_closed_before_pagerduty_answered_pages_nobody_and_is_not_reopened(
        sandbox: RunningSandbox, state_fields: dict[str, str]) -> None:
    # PagerDuty refuses the page twice (an outage): meanwhile the service desk finds it was a false alarm.
    sandbox.sandbox.faults.add(Fault("pagerduty", "POST /incidents", status=500, times=2))
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Card payments failing",
                                         "assignment_group": "Payments Team"}, user="service.desk")
    servicenow.update_incident(raised["sys_id"], state_fields, user="service.desk")
    await settle_all(sandbox, rounds=6)
    assert state(sandbox)["pagerduty"]["incidents"] == []  # nobody woken for a ticket already dealt with
    assert incident_channels(sandbox) == []
    [ticket] = tickets(sandbox)
    assert ticket["state"] == state_fields["state"]  # the service desk's decision stands
    assert not any("paged" in note for note in bot_notes(ticket))
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_ticket_resolved_after_its_page_was_made_keeps_the_page_linked(sandbox: RunningSandbox) -> None:
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Card payments failing",
                                         "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    [paged] = state(sandbox)["pagerduty"]["incidents"]
    # A later update of the ticket (once paged, it is linked) pages no more.
    servicenow.update_incident(raised["sys_id"], {"work_notes": "Customer on the phone again"}, user="service.desk")
    await settle_all(sandbox)
    assert [i["id"] for i in state(sandbox)["pagerduty"]["incidents"]] == [paged["id"]]
    [ticket] = tickets(sandbox)
    assert ticket["correlation_id"] == paged["id"]
    assert sum("paged Payments" in note for note in bot_notes(ticket)) == 1


@pytest.mark.parametrize("lost", [False, True], ids=["answered", "note_answer_lost"])
async def test_a_ticket_for_a_team_with_no_service_left_says_so_once_however_often_it_changes(
        start_sandbox: StartSandbox, catalogue: Catalogue, lost: bool) -> None:
    # Payments' services were retired from the catalogue; its ServiceNow group still exists and still gets tickets.
    sandbox = await start_sandbox(catalogue.model_copy(update={
        "services": [s for s in catalogue.services if s.team != "payments"]}))
    if lost:  # the note is written, its answer lost on the way back: the retry finds it, and still tells operators
        sandbox.sandbox.faults.add(Fault("servicenow", "PATCH /api/now/table/incident/", status=502, after=True))
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Card payments failing",
                                         "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    for text in ("Customer on the phone", "Second customer"):
        servicenow.update_incident(raised["sys_id"], {"work_notes": text}, user="service.desk")
        await settle_all(sandbox)
    assert state(sandbox)["pagerduty"]["incidents"] == []
    # The service desk reads on the ticket that nobody was paged, once; the operators hear of it once.
    [ticket] = tickets(sandbox)
    [note] = bot_notes(ticket)
    assert "Payments" in note and "no one was paged" in note and "no service" in note
    alerts = [line for line in ops_lines(sandbox) if "payments" in line.lower()]
    assert len(alerts) == 1, alerts
    assert all(rule.times == 0 for rule in sandbox.sandbox.faults.rules)
    dead = (await sandbox.bot.readiness())["dead_effects"]
    assert isinstance(dead, list) and len(dead) <= 1


async def test_a_ticket_raised_to_page_a_group_that_is_no_team_gets_its_note_once_however_often_it_changes(
        sandbox: RunningSandbox) -> None:
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Printer on fire", "assignment_group": "Service Desk",
                                         "category": "Product team"}, user="service.desk")
    await settle_all(sandbox)
    for text in ("Customer on the phone", "Second customer"):
        servicenow.update_incident(raised["sys_id"], {"work_notes": text}, user="service.desk")
        await settle_all(sandbox)
    [ticket] = tickets(sandbox)
    [note] = bot_notes(ticket)
    assert "'Service Desk' is not a team" in note
    # Reassigned to another group that is no team: that is news, said once more.
    servicenow.add_group("Facilities")
    servicenow.update_incident(raised["sys_id"], {"assignment_group": "Facilities"}, user="service.desk")
    await settle_all(sandbox)
    assert [n.split("'")[1] for n in bot_notes(tickets(sandbox)[0])] == ["Service Desk", "Facilities"]
    # The operators heard of each group once, not once per update (before: an alert after every update).
    alerts = [line for line in ops_lines(sandbox) if "which is no team" in line]
    assert [("Service Desk" in a, "Facilities" in a) for a in alerts] == [(True, False), (False, True)], alerts


@pytest.mark.parametrize("status", [401, 503])
async def test_a_ticket_for_a_team_pages_it_even_when_servicenow_cannot_say_whether_it_is_still_open(
        sandbox: RunningSandbox, status: int) -> None:
    # The business rule reaches the bot, but the bot's own reads of the ticket are refused (a password rotated, a node
    # restarting): the team is paged all the same.
    sandbox.sandbox.faults.add(Fault("servicenow", "GET /api/now/table/incident/", status=status, times=1))
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Card payments failing",
                                         "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    assert [rule.times for rule in sandbox.sandbox.faults.rules] == [0]  # the read was refused
    [paged] = state(sandbox)["pagerduty"]["incidents"]
    assert paged["incident_key"] == f"servicenow:{raised['sys_id']}"
    [ticket] = tickets(sandbox)
    assert ticket["correlation_id"] == paged["id"]


async def test_group_no_team_alert_once_when_a_later_journal_read_fails(sandbox: RunningSandbox) -> None:
    """Found in review of session 20: a later update's effect whose first look in the journal failed found, on its
    retry, the note an earlier effect wrote, and told the operators again."""
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Printer on fire", "assignment_group": "Service Desk",
                                         "category": "Product team"}, user="service.desk")
    await settle_all(sandbox)
    assert len([line for line in ops_lines(sandbox) if "which is no team" in line]) == 1
    # The next update's effect: its first look in the journal fails once (a node restarting).
    sandbox.sandbox.faults.add(Fault("servicenow", "GET /api/now/table/sys_journal_field", status=503, times=1))
    servicenow.update_incident(raised["sys_id"], {"work_notes": "Customer on the phone"}, user="service.desk")
    await settle_all(sandbox, rounds=6)
    assert [r.times for r in sandbox.sandbox.faults.rules] == [0]
    [ticket] = tickets(sandbox)
    assert len(bot_notes(ticket)) == 1
    alerts = [line for line in ops_lines(sandbox) if "which is no team" in line]
    assert len(alerts) == 1, alerts


async def test_team_with_no_service_alert_once_when_a_later_journal_read_fails(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    sandbox = await start_sandbox(catalogue.model_copy(update={
        "services": [s for s in catalogue.services if s.team != "payments"]}))
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Card payments failing",
                                         "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    before = [line for line in ops_lines(sandbox) if "payments" in line.lower()]
    assert len(before) == 1, before
    sandbox.sandbox.faults.add(Fault("servicenow", "GET /api/now/table/sys_journal_field", status=503, times=1))
    servicenow.update_incident(raised["sys_id"], {"work_notes": "Customer on the phone"}, user="service.desk")
    await settle_all(sandbox, rounds=6)
    assert [r.times for r in sandbox.sandbox.faults.rules] == [0]
    alerts = [line for line in ops_lines(sandbox) if "payments" in line.lower()]
    assert len(alerts) == 1, alerts
    dead = (await sandbox.bot.readiness())["dead_effects"]
    assert isinstance(dead, list) and len(dead) <= 1, dead


async def test_a_ticket_closed_while_its_page_was_being_linked_is_let_go_without_an_alert(
        sandbox: RunningSandbox) -> None:
    """The team is paged; as the bot writes the page's id to the ticket, the desk closes it (a duplicate) and
    ServiceNow refuses the write (403: a closed incident's write ACL). The page stands; the ticket is left as the
    desk closed it; nothing is dead and the operators hear nothing — the desk is done with the ticket."""
    faults, servicenow = sandbox.sandbox.faults, sandbox.sandbox.servicenow
    held = Fault("servicenow", "PATCH /api/now/table/incident/", times=0, latency_ms=HELD_MS,
                 with_field="correlation_id")
    faults.add(held)
    try:
        raised = servicenow.create_incident({"short_description": "Card payments failing",
                                             "assignment_group": "Payments Team"}, user="service.desk")
        # (The page's own incident, once PagerDuty tells the bot of it, links the ticket to it too: two writes.)
        await eventually(lambda: faults.held["servicenow"] >= 1)
        servicenow.update_incident(raised["sys_id"], CLOSED_BY_THE_DESK, user="service.desk")
    finally:
        faults.rules.remove(held)
        faults.release_held()
    await settle_all(sandbox)
    assert len(state(sandbox)["pagerduty"]["incidents"]) == 1
    ticket = next(t for t in tickets(sandbox) if t["sys_id"] == raised["sys_id"])
    assert ticket["state"] == "7" and ticket["correlation_id"] == "" and bot_notes(ticket) == []
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    assert not [line for line in ops_lines(sandbox) if raised["number"] in line], ops_lines(sandbox)


async def test_a_ticket_for_no_team_closed_before_its_note_is_let_go_without_an_alert(
        sandbox: RunningSandbox) -> None:
    """A ticket raised to page a group that is no team: as the bot writes its note, the desk closes the ticket.
    Nothing is dead, and the operators are not asked to fix a group for a ticket nobody needs paged any more."""
    faults, servicenow = sandbox.sandbox.faults, sandbox.sandbox.servicenow
    held = Fault("servicenow", "PATCH /api/now/table/incident/", times=0, latency_ms=HELD_MS, with_field="work_notes")
    faults.add(held)
    try:
        raised = servicenow.create_incident({"short_description": "Printer on fire", "assignment_group": "Service Desk",
                                             "category": "Product team"}, user="service.desk")
        await eventually(lambda: faults.held["servicenow"] == 1)
        servicenow.update_incident(raised["sys_id"], CLOSED_BY_THE_DESK, user="service.desk")
    finally:
        faults.rules.remove(held)
        faults.release_held()
    await settle_all(sandbox)
    [ticket] = tickets(sandbox)
    assert ticket["state"] == "7" and bot_notes(ticket) == []
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    assert not [line for line in ops_lines(sandbox) if raised["number"] in line], ops_lines(sandbox)


def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


def ticket(running: RunningSandbox, sys_id: str) -> dict[str, Any]:
    return next(t for t in tickets(running) if t["sys_id"] == sys_id)


async def test_a_planning_priority_ticket_pages_its_team_at_low_urgency(sandbox: RunningSandbox) -> None:
    """Found in review: a ticket the desk raised as impact 3 / urgency 3 (priority 5 - Planning: a typo on a help
    page) paged the team at PagerDuty's high urgency, which wakes someone at 3 a.m.; the ticket's own levels were not
    read at all. The catalogue's `servicenow.urgency` (high → 1/1, low → 3/3) is read back: nearest priority wins."""
    raised = sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Typo on the refunds help page", "assignment_group": "Payments Team",
         "impact": "3", "urgency": "3"}, user="service.desk")
    urgent = sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Delivery Team",
         "impact": "1", "urgency": "2"}, user="service.desk")
    await settle_all(sandbox)
    assert (ticket(sandbox, raised["sys_id"])["priority"], ticket(sandbox, urgent["sys_id"])["priority"]) == ("5", "2")
    by_title = {i["title"].split(":")[0]: i["urgency"] for i in pd_incidents(sandbox)}
    assert by_title == {raised["number"]: "low", urgent["number"]: "high"}


async def test_a_ticket_reassigned_before_its_page_was_made_pages_the_new_team_and_says_so_truly(
        sandbox: RunningSandbox) -> None:
    """Found in review: the desk raises a ticket for Payments and, seconds later, reassigns it to Delivery, while
    PagerDuty is slow to take the first page. The reassignment's page found Payments' PagerDuty incident by the
    ticket's key and wrote "Paved Road paged Delivery in PagerDuty: <Payments' incident>" on the ticket: the desk read
    that Delivery was paged, and nobody in Delivery ever was. The key is looked up on the team's own services."""
    sandbox.sandbox.faults.add(Fault("pagerduty", "POST /incidents", status=500, times=1))
    servicenow = sandbox.sandbox.servicenow
    raised = servicenow.create_incident({"short_description": "Delivery slots not loading",
                                         "assignment_group": "Payments Team"}, user="service.desk")
    servicenow.update_incident(raised["sys_id"], {"assignment_group": "Delivery Team"}, user="service.desk")
    await settle_all(sandbox, rounds=6)
    delivery_services = {"PDELIVS", "PDELTRK"}
    notes = bot_notes(ticket(sandbox, raised["sys_id"]))
    paged_delivery = [n for n in notes if "paged Delivery" in n]
    by_id = {i["id"]: i for i in pd_incidents(sandbox)}
    assert paged_delivery
    for note in paged_delivery:  # a note saying Delivery was paged must link a Delivery incident
        linked = note.rsplit("/", 1)[-1]
        assert by_id[linked]["service_id"] in delivery_services, (
            f"the ticket says Delivery was paged, but links {by_id[linked]['service_id']}'s incident: {note}")
    assert sum(i["service_id"] in delivery_services for i in by_id.values()) == 1


async def test_a_team_ticket_carrying_another_tools_correlation_id_still_pages_the_team(
        sandbox: RunningSandbox) -> None:
    """Found in review: correlation_id is ServiceNow's generic foreign-key field: Event Management and monitoring
    integrations fill it with their own alert ids. A ticket raised that way for Payments was taken as "linked to a
    PagerDuty incident" the bot does not know, and dropped: nobody paged, nobody told."""
    sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Checkout answering 500s", "assignment_group": "Payments Team",
         "correlation_id": "em_alert_0048812"}, user="event.management")
    await settle_all(sandbox)
    assert len(pd_incidents(sandbox)) == 1, "a ticket raised for Payments paged nobody"


async def test_a_page_resolved_while_servicenow_refused_the_link_is_not_made_again(sandbox: RunningSandbox) -> None:
    """Found in review: ServiceNow rate-limits the bot's writes for a while (429 on PATCH): the page is made but the
    ticket cannot be linked yet, so the effect retries. Meanwhile Payments fixes it and resolves the PagerDuty
    incident. The retry looked the page up by its key among *open* incidents only, found none, saw the ticket still
    open and paged Payments a second time. The key is now looked up in every status."""
    faults = sandbox.sandbox.faults
    refusing = Fault("servicenow", "PATCH /api/now/table/incident/", status=429, times=100_000)
    faults.add(refusing)
    sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team"}, user="service.desk")
    await sandbox.sandbox.servicenow.drain_webhooks()
    await eventually(lambda: len(pd_incidents(sandbox)) == 1)
    [paged] = pd_incidents(sandbox)
    # A person resolves it in PagerDuty's UI; the bot is not waited for (ServiceNow is refusing it meanwhile).
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/pagerduty/incidents/{paged['id']}/resolve",
            json={"user": "ben.okafor@example.com"}) as response:
        assert response.status == 200, await response.text()
    await sandbox.sandbox.pagerduty.drain_webhooks()
    await asyncio.sleep(3)  # the page's retries (Retry-After: 1) go on meanwhile
    faults.rules.remove(refusing)
    await settle_all(sandbox)
    assert [i["status"] for i in pd_incidents(sandbox)] == ["resolved"], (
        "Payments was paged again for a ticket whose page it had resolved")


async def test_a_ticket_with_a_long_description_still_pages_its_team(sandbox: RunningSandbox) -> None:
    """Found in review: a monitoring tool raises a ticket for Payments with the alert's whole payload as its
    description (mediumtext: ServiceNow keeps it whole). The business rule sent the description whole in every
    delivery, over the bot's 256 KB cap: 413, which the business rule does not retry. Nobody was paged. The README's
    business rule (which the emulator follows) now cuts the long texts before signing."""
    dump = "\n".join(f"frame {n}: at com.example.checkout.PaymentGateway.authorise(PaymentGateway.java:{n})"
                     for n in range(4000))
    assert len(dump) > 256 * 1024
    sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team", "description": dump},
        user="event.management")
    await settle_all(sandbox)
    answered = state(sandbox)["servicenow"]["webhook_deliveries"][0]["http_status"]
    assert len(pd_incidents(sandbox)) == 1, f"nobody was paged: the delivery was answered {answered}"


async def test_a_numeric_monitoring_correlation_id_does_not_hide_a_ticket(sandbox: RunningSandbox) -> None:
    """Found in review: Datadog, Zabbix and many monitoring integrations put a numeric event id in correlation_id.
    Digits only were taken for a PagerDuty id (whose ids begin with a letter): the ticket paged nobody."""
    sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Checkout answering 500s", "assignment_group": "Payments Team",
         "correlation_id": "7338297474859938361"}, user="datadog.integration")
    await settle_all(sandbox)
    assert len(pd_incidents(sandbox)) == 1, "a ticket raised for Payments paged nobody"
