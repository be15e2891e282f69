"""An incident merged into another in PagerDuty: its ticket is resolved and the surviving incident's ticket gets a work
note pointing back at it. When no ticket can take that note — the surviving incident has no ticket and none is on its
way, or its open ticket refuses the note for good — the note is given up, and the operators hear it once per merge,
with the tickets to tie by hand; not in the log alone, where nobody learnt the two tickets were left untied."""

from __future__ import annotations

from typing import Any

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, messages, state
from tests.e2e.servicenow_helpers import incident_data, merge_reason, settle_all, ticket_for, tickets, triggered

ASHA = "asha.patel@example.com"
UNTOLD = "no ticket was told of the merge"


def merge_alerts(running: RunningSandbox) -> list[str]:
    """The operators' alerts about a merge no ticket heard of (in their channel, threads included)."""
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"]) if UNTOLD in m["text"]]


async def merge(running: RunningSandbox, merged: dict[str, Any], kept: dict[str, Any]) -> None:
    """PagerDuty merges `merged` into `kept` (the merged one resolved with a merge's reason)."""
    running.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        running, merged["id"], status="resolved", resolve_reason=merge_reason(running, kept)))
    await settle_all(running)


async def retried_sync_of(running: RunningSandbox, merged: dict[str, Any]) -> None:
    """A later line of the merged incident whose ticket update ServiceNow fails once (a 503): its retry gives the
    merge's note up again."""
    running.sandbox.faults.add(fault := Fault("servicenow", "PATCH /api/now/table/incident/", status=503, times=1,
                                              with_field="work_notes", with_text="checked the basket logs"))
    await act(running, merged["id"], "note", user=ASHA, content="checked the basket logs")
    await running.bot.flush_work_notes()
    await settle_all(running)
    assert fault.times == 0


async def test_a_merge_into_an_incident_that_will_never_get_a_ticket_tells_the_operators_once(
        sandbox: RunningSandbox) -> None:
    merged = await triggered(sandbox, "Basket errors spike")
    sandbox.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=400, times=1000,
                                     with_field="short_description", with_text="Checkout returns 500s",
                                     error="Data Policy Exception: a rule of the instance's own"))
    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")  # its ticket's effects die
    assert not [t for t in tickets(sandbox) if t["correlation_id"] == kept["id"]]
    await merge(sandbox, merged, kept)
    gone = ticket_for(sandbox, merged["id"])
    assert gone["state"] == "6"
    [alert] = merge_alerts(sandbox)
    assert gone["number"] in alert and f"#{merged['incident_number']}" in alert, alert
    assert f"#{kept['incident_number']} has no ServiceNow ticket" in alert, alert
    assert "add a work note there" in alert and "parent incident" in alert, alert
    await retried_sync_of(sandbox, merged)
    assert len(merge_alerts(sandbox)) == 1, merge_alerts(sandbox)


async def test_a_surviving_ticket_refusing_the_merge_note_for_good_tells_the_operators_once(
        sandbox: RunningSandbox) -> None:
    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    merged = await triggered(sandbox, "Basket errors spike")
    there = ticket_for(sandbox, kept["id"])
    sandbox.sandbox.faults.add(Fault("servicenow", f"PATCH /api/now/table/incident/{there['sys_id']}", status=403,
                                     times=1000, with_field="work_notes", with_text="was merged into this incident",
                                     error="Operation against file 'incident' was aborted by Business Rule 'lock'"))
    await merge(sandbox, merged, kept)
    gone = ticket_for(sandbox, merged["id"])
    assert gone["state"] == "6"
    [alert] = merge_alerts(sandbox)
    assert gone["number"] in alert and there["number"] in alert and "Business Rule" in alert, alert
    assert f"Add a work note to {there['number']} by hand" in alert, alert
    await retried_sync_of(sandbox, merged)
    assert len(merge_alerts(sandbox)) == 1, merge_alerts(sandbox)
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_surviving_ticket_closed_since_refusing_the_note_tells_nobody(sandbox: RunningSandbox) -> None:
    """Closed by the desk before the note came (ServiceNow refusing writes to a closed ticket): let be, as before."""
    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    merged = await triggered(sandbox, "Basket errors spike")
    there = ticket_for(sandbox, kept["id"])
    sandbox.sandbox.servicenow.tables["incident"][there["sys_id"]]["state"] = "7"  # the bot not told: no delivery
    await merge(sandbox, merged, kept)
    assert ticket_for(sandbox, merged["id"])["state"] == "6"
    assert merge_alerts(sandbox) == []
