"""A close-code mismatch is told to the operators once, however many resolves meet it at the same moment: two tickets
resolved together (on one replica, or on two sharing the store) each looked whether the operators had been told, both
found not, and both queued the alert — two identical ⚠️ posts in the operators' channel at every restart's first
burst of resolves (bot/services/close_code_choices.py claims the telling with `first_time`)."""

from __future__ import annotations

from sandbox.world import RunningSandbox
from tests.e2e.servicenow_helpers import close_code_alerts, incident_data, settle_all, ticket_for, triggered


async def test_two_tickets_resolved_together_tell_the_operators_once(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.servicenow.use_close_codes("utah")
    incidents = [await triggered(sandbox, "Checkout returns 500s", "PCHECKO"),
                 await triggered(sandbox, "Basket errors spike"), await triggered(sandbox, "Search is slow")]
    for incident in incidents:  # resolved at once: their tickets' syncs run side by side
        sandbox.sandbox.pagerduty.emit_event("incident.resolved", incident["id"], user_email="asha.patel@example.com",
                                             data=incident_data(sandbox, incident["id"], status="resolved"))
    await settle_all(sandbox)
    assert [ticket_for(sandbox, i["id"])["close_code"] for i in incidents] == ["Solution provided"] * 3
    assert len(close_code_alerts(sandbox)) == 1, close_code_alerts(sandbox)
