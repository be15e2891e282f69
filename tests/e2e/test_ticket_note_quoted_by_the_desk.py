"""A work note the bot looks for before writing it again (bot/services/ticket_pages.py `note_once`, `journal_note`:
a retry after a lost answer, a timeline batch's marker, the "no one was paged" note) is found among the bot's own
notes only: a desk agent's note quoting the bot's words, or a batch's `[paved-road …]` marker, is the agent's, and
must not keep the bot's note from being written. Written into the sandbox's ServiceNow as the agent would, read
through the real adapter."""

from __future__ import annotations

from bot.services.ticket_pages import journal_note, note_once
from sandbox.world import SERVICENOW_USER, RunningSandbox

DESK = "jane.agent"
NOTE = "Paved Road: no one was paged for this ticket: team 'payments' has no service. [paved-road batch-7]"


async def test_a_desk_note_quoting_the_bots_does_not_stand_in_for_it(sandbox: RunningSandbox) -> None:
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None
    sys_id = instance.create_incident({"short_description": "Checkout returns 500s"}, user=DESK)["sys_id"]
    instance.update_incident(sys_id, {"work_notes": f"Copied from the bot, FYI:\n{NOTE}"}, user=DESK)

    assert await journal_note(tickets, sys_id, "[paved-road batch-7]") is None  # the agent's, not the bot's
    await note_once(tickets, sys_id, NOTE, retry=True)
    mine = [e for e in instance.entries_on(sys_id) if e.value == NOTE]
    assert [e.created_by for e in mine] == [SERVICENOW_USER], instance.entries_on(sys_id)

    await note_once(tickets, sys_id, NOTE, retry=True)  # a retry of the bot's own: found, not written again
    assert len([e for e in instance.entries_on(sys_id) if e.value == NOTE]) == 1
    assert await journal_note(tickets, sys_id, "[paved-road batch-7]") == NOTE
