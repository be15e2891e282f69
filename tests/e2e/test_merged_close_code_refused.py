"""An instance that refuses the close code for merges (`servicenow.merged_close_code`: "Duplicate" is current
releases' code; an older instance's choices have none, and a data policy or business rule of its own may refuse a code
not in them): the merged incident's ticket is still resolved, as an ordinary resolve, and the operators hear once, in
words that say which catalogue key to set."""

from __future__ import annotations

from typing import Any

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, messages, state
from tests.e2e.servicenow_helpers import bot_notes, incident_data, merge_reason, settle_all, ticket_for, triggered

ASHA = "asha.patel@example.com"
REFUSAL = "Data Policy Exception: Resolution code: 'Duplicate' is not one of this instance's choices"


def operators_alerts(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"]) if "merged_close_code" in m["text"]]


async def merged_away(running: RunningSandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two incidents with their tickets, the second merged into the first in PagerDuty, the instance refusing the
    close code for merges."""
    kept = await triggered(running, "Checkout returns 500s", "PCHECKO")
    merged = await triggered(running, "Basket errors spike")
    running.sandbox.faults.add(Fault("servicenow", "/api/now/table/incident/", status=403, times=50,
                                     with_field="close_code", with_text="Duplicate", error=REFUSAL))
    running.sandbox.pagerduty.emit_event("incident.resolved", merged["id"], user_email=ASHA, data=incident_data(
        running, merged["id"], status="resolved", resolve_reason=merge_reason(running, kept)))
    await settle_all(running)
    return kept, merged


async def test_a_refused_close_code_for_merges_resolves_the_ticket_as_solved_and_tells_the_operators(
        sandbox: RunningSandbox) -> None:
    """The instance refused "Duplicate": the sync died with advice about ACLs and the itil role, and the merged
    incident's ticket stayed open for good — the desk saw an open ticket for an incident PagerDuty had closed."""
    kept, merged = await merged_away(sandbox)
    gone, there = ticket_for(sandbox, merged["id"]), ticket_for(sandbox, kept["id"])
    assert (gone["state"], gone["close_code"], gone["parent_incident"]) == ("6", "Solved (Permanently)", "")
    assert there["number"] in gone["close_notes"]  # the close notes still say where the incident went on
    [alert] = operators_alerts(sandbox)
    assert gone["number"] in alert and "Duplicate" in alert and "Solved (Permanently)" in alert, alert
    assert "Data Policy Exception" in alert and "ACL" not in alert, alert
    # The surviving ticket hears of the merge, now that the merged one is resolved.
    assert [n for n in bot_notes(there) if gone["number"] in n]


async def test_a_resolution_note_after_the_refusal_tells_the_operators_nothing_more(sandbox: RunningSandbox) -> None:
    """Each line that rewrites the close notes (the resolution note, a late acknowledgement) sets the close code
    again and is refused again: the operators heard of it once, not at every line."""
    _, merged = await merged_away(sandbox)
    await act(sandbox, merged["id"], "note", user=ASHA, content="Resolution: duplicate of the checkout incident")
    await settle_all(sandbox)
    gone = ticket_for(sandbox, merged["id"])
    assert "duplicate of the checkout incident" in gone["close_notes"], gone["close_notes"]
    assert (gone["state"], gone["close_code"]) == ("6", "Solved (Permanently)")
    assert len(operators_alerts(sandbox)) == 1
