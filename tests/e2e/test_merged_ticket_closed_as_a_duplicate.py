"""An incident merged away in PagerDuty goes on in the incident it was merged into: its ticket is resolved as a
duplicate of that one's ticket (the close code for merges, `parent_incident` the surviving ticket), not as solved."""

from __future__ import annotations

from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.servicenow_helpers import incident_data, merge_reason, settle_all, ticket_for, triggered
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"


async def test_a_merged_incidents_ticket_is_resolved_as_a_duplicate_of_the_surviving_ticket(
        sandbox: RunningSandbox) -> None:
    """Merged into another incident, its ticket was resolved "Solved (Permanently)" with no link to the ticket the
    work goes on in: the desk's reports counted a solved outage, and nothing in ServiceNow tied the two tickets."""
    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")
    merged = await triggered(sandbox, "Basket errors spike")
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        sandbox, merged["id"], status="resolved", resolve_reason=merge_reason(sandbox, kept)))
    await settle_all(sandbox)
    gone, there = ticket_for(sandbox, merged["id"]), ticket_for(sandbox, kept["id"])
    assert gone["state"] == "6"
    assert gone["close_code"] == "Duplicate"
    assert gone["parent_incident"] == there["sys_id"]
    assert there["parent_incident"] == "" and there["state"] != "6"


async def test_a_merge_into_an_incident_with_no_ticket_is_a_duplicate_with_no_parent(
        sandbox: RunningSandbox) -> None:
    """Merged into an incident the bot never heard of (another account's service, before the bot ran): no ticket to
    point at, the close code still says it was a duplicate, and nothing is refused for a reference to nothing."""
    merged = await triggered(sandbox, "Basket errors spike")
    elsewhere = {"id": "PELSEWH", "title": "Payments are down", "html_url": "https://example.pagerduty.com/i/PELSEWH"}
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        sandbox, merged["id"], status="resolved", resolve_reason=merge_reason(sandbox, elsewhere)))
    await settle_all(sandbox)
    gone = ticket_for(sandbox, merged["id"])
    assert (gone["state"], gone["close_code"], gone["parent_incident"]) == ("6", "Duplicate", "")


async def test_the_close_code_for_merges_is_the_catalogues(start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """An instance whose close codes have no "Duplicate" (older ones say "Closed/Resolved by Caller" or have a code of
    their own): the catalogue's `servicenow.merged_close_code` is the one set."""
    running = await start_sandbox(catalogue.model_copy(update={"servicenow": catalogue.servicenow.model_copy(
        update={"merged_close_code": "Solved (Work Around)"})}))
    kept = await triggered(running, "Checkout returns 500s", "PCHECKO")
    merged = await triggered(running, "Basket errors spike")
    running.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        running, merged["id"], status="resolved", resolve_reason=merge_reason(running, kept)))
    await settle_all(running)
    assert ticket_for(running, merged["id"])["close_code"] == "Solved (Work Around)"
