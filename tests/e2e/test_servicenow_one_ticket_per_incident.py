"""One ticket, one incident, end to end through the sandbox: a second PagerDuty incident naming a ticket another
incident owns (its `servicenow:<sys_id>` key) gets a ticket of its own, and a store refusing a ticket as another
incident's kills that effect (an alert for the operators) instead of spinning against ServiceNow."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.ports.store import TicketRow
from bot.services.retries import RetryPolicy
from sandbox.faults import Fault
from sandbox.pagerduty.model import Agent
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, messages, state
from tests.e2e.servicenow_helpers import settle_all, tickets
from tests.helpers import StartSandbox


def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


def servicenow_calls(running: RunningSandbox) -> int:
    return sum(state(running)["servicenow"]["calls"].values())


def operators_said(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"])]


def keyed_to(running: RunningSandbox, sys_id: str, service_id: str) -> str:
    """Trigger a PagerDuty incident carrying the ticket's key, as the ServiceNow integration user; its id."""
    account = running.sandbox.pagerduty.account
    requester = account.user_by_email("servicenow.integration@example.com")
    assert requester is not None
    return account.trigger(title="Card payments failing (again)", service_id=service_id,
                           agent=Agent("user_reference", requester.id), incident_key=f"servicenow:{sys_id}").id


async def test_a_second_incident_keyed_to_a_linked_ticket_gets_its_own_and_does_not_spin(
        start_sandbox: StartSandbox) -> None:
    """Found in review: two PagerDuty incidents carry one ticket's key `servicenow:<sys_id>` (a reassigned ticket's
    second page makes exactly this; so does anyone re-triggering with that key on another service). The second
    incident's OpenTicket adopted the ticket by the key, and saving its row broke the store's unique sys_id: the
    IntegrityError was taken for a store outage, so the effect was retried at once, again and again — hundreds of
    ServiceNow calls a second, and an ERROR line each time telling the operators to check the database's disk. (With
    the production retry policy too: the retry's delay was never recorded.) The second incident now gets a ticket of
    its own: the desk's ticket stays the first incident's."""
    sandbox = await start_sandbox(retry_policy=RetryPolicy())
    raised = sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    [first] = pd_incidents(sandbox)
    second = keyed_to(sandbox, raised["sys_id"], "PREFUND")
    await sandbox.sandbox.pagerduty.drain_webhooks()
    await asyncio.sleep(0.5)
    before = servicenow_calls(sandbox)
    await asyncio.sleep(2)
    made = servicenow_calls(sandbox) - before
    assert made < 20, f"{made} ServiceNow calls in 2 s from one incident's ticket effect, retried in a tight loop"
    await settle_all(sandbox)
    desk_ticket = await sandbox.bot.store.ticket_by_sys_id(raised["sys_id"])
    assert desk_ticket is not None and desk_ticket.incident_id == first["id"]
    own = await sandbox.bot.store.ticket(second)
    assert own is not None and own.sys_id != raised["sys_id"]
    assert next(t for t in tickets(sandbox) if t["sys_id"] == own.sys_id)["correlation_id"] == second
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_ticket_the_store_refuses_as_another_incidents_kills_the_effect_with_an_alert(
        sandbox: RunningSandbox) -> None:
    """Found in review: the store refusing a ticket row (its sys_id already another incident's: here another replica
    records it while this one links the ticket) was taken for the database being down — the effect retried at once,
    forever, its death unrecordable as the same row rode in its bookkeeping. It is now that effect's permanent
    failure: dead, the operators told which ticket and which incidents, and ServiceNow left alone."""
    raised = sandbox.sandbox.servicenow.create_incident({"short_description": "Card payments failing"},
                                                        user="service.desk")  # no group: pages nobody
    await settle_all(sandbox)
    holding = Fault("servicenow", "PATCH /api/now/table/incident/", times=0, latency_ms=10_000,
                    with_field="correlation_id")
    faults = sandbox.sandbox.faults
    faults.add(holding)
    incident_id = keyed_to(sandbox, raised["sys_id"], "PCHECKO")
    await sandbox.sandbox.pagerduty.drain_webhooks()
    await eventually(lambda: faults.held["servicenow"] > 0)  # the ticket found free, its link on the way
    await sandbox.bot.store.save_ticket(TicketRow("QELSEWHERE1", raised["sys_id"], raised["number"], "https://sn"))
    faults.rules.remove(holding)
    faults.release_held("servicenow")
    await settle_all(sandbox)
    dead = (await sandbox.bot.readiness())["dead_effects"]
    assert isinstance(dead, list)
    assert [d["kind"] for d in dead] == ["open_ticket"], dead
    alert = next(line for line in operators_said(sandbox) if raised["number"] in line)
    assert "QELSEWHERE1" in alert and incident_id in alert and "not retried" in alert
    before = servicenow_calls(sandbox)
    await asyncio.sleep(1)
    assert servicenow_calls(sandbox) == before
