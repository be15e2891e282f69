"""A ticket the service desk put On Hold (waiting on a vendor, a caller) stays On Hold when the incident's
acknowledgement times out in PagerDuty: the bot's ack-timeout move to New is for a ticket that said someone was on it,
not for the desk's own word on it."""

from __future__ import annotations

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act
from tests.e2e.servicenow_helpers import bot_notes, note_lines, settle_all, ticket_for, triggered

ASHA = "asha.patel@example.com"


async def flushed(running: RunningSandbox) -> None:
    await settle_all(running)
    await running.bot.flush_work_notes()
    await settle_all(running)


async def test_an_acknowledgement_timing_out_leaves_a_ticket_the_desk_put_on_hold_on_hold(
        sandbox: RunningSandbox) -> None:
    """The desk put the ticket On Hold; the acknowledgement then timed out in PagerDuty and the bot set it back to
    New: the ticket came back into the desk's New queue, and their hold was lost."""
    incident = await triggered(sandbox, "Basket totals are wrong")
    iid = incident["id"]
    await act(sandbox, iid, "acknowledge", user=ASHA)
    await settle_all(sandbox)
    sys_id = ticket_for(sandbox, iid)["sys_id"]
    sandbox.sandbox.servicenow.update_incident(sys_id, {"state": "3"}, user="jane.agent")
    await settle_all(sandbox)
    await act(sandbox, iid, "note", user=ASHA, content="Waiting on the payment provider")  # a later line keeps it
    await flushed(sandbox)
    assert ticket_for(sandbox, iid)["state"] == "3"
    await act(sandbox, iid, "unacknowledge")
    await flushed(sandbox)
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "3", "the ack timeout set the desk's On Hold back to New"
    assert any(line.startswith("Unacknowledged") for line in note_lines(bot_notes(ticket)))
    await act(sandbox, iid, "acknowledge", user=ASHA)  # acknowledged again: still the desk's hold
    await flushed(sandbox)
    assert ticket_for(sandbox, iid)["state"] == "3"
    # The incident resolved in PagerDuty still resolves the ticket.
    await act(sandbox, iid, "resolve", user=ASHA)
    await flushed(sandbox)
    assert ticket_for(sandbox, iid)["state"] == "6"
