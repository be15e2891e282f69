"""An incident whose ticket was Closed went on in a follow-on ticket (`parent_incident` the closed one); it is then
merged into another incident in PagerDuty. The follow-on's link to the ticket it follows on from is kept: the merge's
ticket is named in its close notes instead."""

from __future__ import annotations

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act
from tests.e2e.servicenow_helpers import incident_data, merge_reason, settle_all, ticket_for, tickets, triggered

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"


async def test_a_merge_does_not_write_over_a_follow_ons_link_to_its_closed_ticket(sandbox: RunningSandbox) -> None:
    """The follow-on's parent_incident named the closed ticket (the incident's first part); the merge set it to the
    surviving incident's ticket: the desk lost the only link between the two tickets of one outage."""
    merged = await triggered(sandbox, "Basket errors spike")
    iid = merged["id"]
    for action in ("acknowledge", "resolve"):
        await act(sandbox, iid, action, user=ASHA)
        await sandbox.bot.flush_work_notes()
        await settle_all(sandbox)
    first = ticket_for(sandbox, iid)
    sandbox.sandbox.servicenow.update_incident(first["sys_id"], {"state": "7"}, user="system")  # the auto-close
    await settle_all(sandbox)
    sandbox.sandbox.pagerduty.account.allow_reopen = True
    await act(sandbox, iid, "acknowledge", user=DEV)  # reopened: it goes on in a follow-on
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    [follow_on] = [t for t in tickets(sandbox) if t["correlation_id"] == iid and t["sys_id"] != first["sys_id"]]
    assert follow_on["parent_incident"] == first["sys_id"]

    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", iid, user_email=ASHA, data=incident_data(
        sandbox, iid, status="resolved", resolve_reason=merge_reason(sandbox, kept)))
    await settle_all(sandbox)
    there = ticket_for(sandbox, kept["id"])
    [follow_on] = [t for t in tickets(sandbox) if t["sys_id"] == follow_on["sys_id"]]
    assert (follow_on["state"], follow_on["close_code"]) == ("6", "Duplicate")
    assert follow_on["parent_incident"] == first["sys_id"], "the merge wrote over the follow-on's parent"
    assert there["number"] in follow_on["close_notes"] and first["number"] in follow_on["close_notes"]
    assert (await sandbox.bot.readiness())["dead_effects"] == []
