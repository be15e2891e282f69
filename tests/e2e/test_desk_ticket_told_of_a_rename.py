"""A ticket the service desk raised pages its team; the responders then rename the PagerDuty incident once they know
what it is. The desk's short description is theirs and stays; what they expect is a work note naming the incident's
new title (the words the responders search and speak by), once per rename."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import deliver, state
from tests.e2e.servicenow_helpers import bot_notes, incident_data, settle_all, tickets
from tests.helpers import envelope

ASHA = "asha.patel@example.com"


def renamed_notes(running: RunningSandbox, sys_id: str) -> list[str]:
    ticket = next(t for t in tickets(running) if t["sys_id"] == sys_id)
    return [note for note in bot_notes(ticket) if "renamed" in note]


async def heard_of(running: RunningSandbox, page: dict[str, Any], title: str | None = None) -> None:
    """PagerDuty's next webhook of the page (an acknowledgement, as PagerDuty sends one), after a rename to `title`
    if given: it carries the incident's title as it now is."""
    pd = running.sandbox.pagerduty
    if title is not None:
        pd.account.set_title(pd.account.incident(page["id"]), title)
    pd.emit_event("incident.acknowledged", page["id"], user_email=ASHA,
                  data=incident_data(running, page["id"], status="acknowledged"))
    await settle_all(running)


async def test_the_desk_hears_once_of_each_rename_of_the_incident_its_ticket_paged(sandbox: RunningSandbox) -> None:
    """The responders renamed the page "Adyen webhook backlog": the desk's ticket, still "Card payments failing",
    never said so — a caller asking about the Adyen backlog was told no such incident was known."""
    raised = sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    [page] = state(sandbox)["pagerduty"]["incidents"]
    await heard_of(sandbox, page, "Adyen webhook backlog")
    [note] = renamed_notes(sandbox, raised["sys_id"])
    assert "Adyen webhook backlog" in note and f"#{page['number']}" in note
    ticket = next(t for t in tickets(sandbox) if t["sys_id"] == raised["sys_id"])
    assert ticket["short_description"] == "Card payments failing"
    # Later webhooks carrying the same title say nothing more; the next rename is told, once.
    await heard_of(sandbox, page)
    assert len(renamed_notes(sandbox, raised["sys_id"])) == 1
    # The next rename's note is written, and ServiceNow's answer lost (a gateway's 502): the retry finds it written.
    lost = Fault("servicenow", f"/api/now/table/incident/{raised['sys_id']}", status=502, after=True,
                 with_field="work_notes", with_text="renamed")
    sandbox.sandbox.faults.add(lost)
    await heard_of(sandbox, page, "Adyen webhook backlog after a certificate rotation")
    assert lost.times == 0
    notes = renamed_notes(sandbox, raised["sys_id"])
    assert len(notes) == 2 and "after a certificate rotation" in notes[1]


async def test_a_name_given_back_within_the_minute_is_told_again(sandbox: RunningSandbox) -> None:
    """Renamed "Adyen webhook backlog", back to "Card payments failing", then "Adyen webhook backlog" again within one
    minute: the third note had the first one's words to the minute, was taken for it and not written — the desk's
    last word said "Card payments failing", while PagerDuty's title was the other."""
    raised = sandbox.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(sandbox)
    [page] = state(sandbox)["pagerduty"]["incidents"]
    created = datetime.fromisoformat(str(incident_data(sandbox, page["id"])["created_at"]))
    start = created.replace(second=0, microsecond=0) + timedelta(minutes=5)
    for seconds, title in ((10, "Adyen webhook backlog"), (30, "Card payments failing"), (50, "Adyen webhook backlog")):
        at = (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        data = incident_data(sandbox, page["id"], status="acknowledged", title=title)
        assert await deliver(sandbox, envelope("incident.acknowledged", data, occurred_at=at)) == 202
        await settle_all(sandbox)
    notes = renamed_notes(sandbox, raised["sys_id"])
    assert len(notes) == 3 and "Adyen webhook backlog" in notes[-1], notes
