"""The TicketRecords port: the incident's ticket found both ways, and work notes in batches that a retry resends
whole while later lines wait for the next batch."""

from __future__ import annotations

import pytest

from bot.errors import StoreConstraint
from bot.ports.store import Store, TicketRow
from tests.store.contract.builders import commit, line, note

TICKET = TicketRow("Q1", "sys-1", "INC0010001", "https://servicenow/INC0010001")


async def test_a_ticket_is_found_by_incident_or_by_sys_id_and_saving_replaces_it(store: Store) -> None:
    assert await store.ticket("Q1") is None
    await store.save_ticket(TICKET)
    await store.save_ticket(TicketRow("Q2", "sys-2", "INC0010002", "https://servicenow/INC0010002"))
    assert await store.ticket("Q1") == TICKET
    assert await store.ticket_by_sys_id("sys-1") == TICKET
    told = TicketRow("Q1", "sys-1", "INC0010001", TICKET.link, state="2", channel_told=1)
    await store.save_ticket(told)
    assert await store.ticket("Q1") == told
    assert await store.ticket_by_sys_id("sys-9") is None


async def test_a_batch_is_every_untold_line_and_is_sent_again_until_noted(store: Store) -> None:
    await commit(store, note("Q1", "n2", minute=2), note("Q1", "n1", minute=1), note("Q2", "other", minute=1),
                 note("Q1", "state", minute=3, kind="servicenow_state"))
    batch, lines, resumed = await store.work_note_batch("Q1")
    assert not resumed  # begun by this call: nobody can have sent it yet
    # In the order they happened; the ticket's own lines are not told back to it.
    assert lines == [line("Q1", "n1", minute=1), line("Q1", "n2", minute=2)]
    await commit(store, note("Q1", "n3", minute=4))
    # Not confirmed (a timeout that may have delivered it): the same batch again, without the newer line.
    assert await store.work_note_batch("Q1") == (batch, lines, True)
    await store.mark_noted([e.id for e in lines])
    later, newer, resumed = await store.work_note_batch("Q1")
    assert later != batch and [e.id for e in newer] == ["n3"] and not resumed


async def test_with_nothing_untold_the_batch_is_empty(store: Store) -> None:
    await commit(store, note("Q1", "n1", minute=1))
    _, lines, _ = await store.work_note_batch("Q1")
    await store.mark_noted([e.id for e in lines])
    await store.mark_noted([])
    assert (await store.work_note_batch("Q1"))[1] == []
    assert (await store.work_note_batch("Q9"))[1] == []


async def test_a_ticket_already_another_incidents_is_refused_as_a_constraint_not_an_outage(store: Store) -> None:
    """Found in review: a second PagerDuty incident keyed to a ticket the first one owns saved it as its own; the
    database's unique sys_id refused it with its raw error, taken for the database being down, and the effect was
    retried at once, forever. The refusal is a StoreConstraint naming both incidents, and the owner's row stands."""
    await store.save_ticket(TICKET)
    with pytest.raises(StoreConstraint, match=r"INC0010001 .*already incident Q1's ticket.* incident Q2's too"):
        await store.save_ticket(TicketRow("Q2", TICKET.sys_id, TICKET.number, TICKET.link))
    assert await store.ticket_by_sys_id(TICKET.sys_id) == TICKET and await store.ticket("Q2") is None
