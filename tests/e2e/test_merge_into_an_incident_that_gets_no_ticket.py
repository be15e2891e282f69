"""An incident merged into one the bot knows but that will never get a ticket (ServiceNow refused to make it, for
good): the merged ticket is resolved once, and the note for the surviving ticket is given up at once, not waited for
an hour while the merged ticket is resolved again at every try."""

from __future__ import annotations

import asyncio

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.servicenow_helpers import incident_data, merge_reason, settle_all, ticket_for, tickets, triggered

ASHA = "asha.patel@example.com"
PATCHES = "PATCH /api/now/table/incident/{sys_id}"


async def test_a_merge_into_an_incident_whose_ticket_will_never_be_made_resolves_once_and_gives_up(
        sandbox: RunningSandbox) -> None:
    merged = await triggered(sandbox, "Basket errors spike")
    sandbox.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=400, times=1000,
                                     with_field="short_description", with_text="Checkout returns 500s",
                                     error="Data Policy Exception: a rule of the instance's own"))
    kept = await triggered(sandbox, "Checkout returns 500s", "PCHECKO")  # its ticket's effects die
    assert not [t for t in tickets(sandbox) if t["correlation_id"] == kept["id"]]
    assert await sandbox.bot.store.pending_in_queue(f"servicenow:{kept['id']}") == 0
    patched = sandbox.sandbox.servicenow.calls[PATCHES]
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        sandbox, merged["id"], status="resolved", resolve_reason=merge_reason(sandbox, kept)))
    await sandbox.sandbox.pagerduty.drain_webhooks()
    try:
        await sandbox.bot.settle(12)  # the note's retry comes every 5 seconds: two of them, had it waited
    finally:
        resolves = sandbox.sandbox.servicenow.calls[PATCHES] - patched
    gone = ticket_for(sandbox, merged["id"])
    assert (gone["state"], gone["close_code"], gone["parent_incident"]) == ("6", "Duplicate", "")
    assert resolves == 1, f"the merged ticket was resolved {resolves} times"
    assert await sandbox.bot.store.pending_in_queue(f"servicenow:{merged['id']}") == 0
    await settle_all(sandbox)



async def test_a_merge_note_waiting_for_the_surviving_ticket_does_not_resolve_the_merged_ticket_again(
        sandbox: RunningSandbox) -> None:
    """The surviving incident's ticket comes late (ServiceNow answering 503 to its making for a while): the note waits
    for it, and its retries tell it once it exists, without resolving the merged ticket again at each try."""
    merged = await triggered(sandbox, "Basket errors spike")
    slow = Fault("servicenow", "POST /api/now/table/incident", status=503, times=1000,
                 with_field="short_description", with_text="Checkout returns 500s")
    sandbox.sandbox.faults.add(slow)
    kept = await sandbox.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PCHECKO", urgency="high")
    await sandbox.sandbox.pagerduty.drain_webhooks()
    patched = sandbox.sandbox.servicenow.calls[PATCHES]
    sandbox.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        sandbox, merged["id"], status="resolved", resolve_reason=merge_reason(sandbox, kept)))
    await sandbox.sandbox.pagerduty.drain_webhooks()
    await asyncio.sleep(11)  # two of the note's retries (every 5 seconds) while the surviving ticket is not made
    # No ticket but the merged one takes a PATCH meanwhile: each is its resolve.
    assert sandbox.sandbox.servicenow.calls[PATCHES] - patched == 1
    sandbox.sandbox.faults.rules.remove(slow)
    await settle_all(sandbox)
    gone, there = ticket_for(sandbox, merged["id"]), ticket_for(sandbox, kept["id"])
    assert gone["state"] == "6"
    said = [n["value"] for n in there["work_notes"] if gone["number"] in n["value"] and "merged into" in n["value"]]
    assert len(said) == 1
    assert (await sandbox.bot.readiness())["dead_effects"] == []
