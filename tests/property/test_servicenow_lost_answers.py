"""ServiceNow failing under an incident's ticket work, property-based: whatever ServiceNow's Table API answers to one
kind of call (a refusal, a rate limit, or — with the emulator's `after` faults — an answer lost after ServiceNow
acted, as a gateway timing out would), an incident triggered, acknowledged, noted and resolved ends with exactly one
ticket, resolved, whose work notes carry every timeline line once and in order, and nothing parked as dead. The
ticket effects converge when replayed (bot/services/ticket_sync.py: the ticket found by correlation id before one is
made; a work note's marker looked for in the journal before it is written again)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act
from tests.e2e.servicenow_helpers import bot_notes, note_lines, settle_all, ticket_for
from tests.property.loop_bridge import OnTheLoop, run_property

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"
TICKETS = "/api/now/table/incident"
# The calls a ticket's life makes: finding it, making it, updating it (state, work notes, close notes), and the
# journal read that looks for a work note's marker.
ROUTES = ("*", TICKETS, f"POST {TICKETS}", f"PATCH {TICKETS}", f"GET {TICKETS}", "/api/now/table/sys_journal_field")
faults = st.one_of(
    st.builds(lambda route, status, after, times: Fault("servicenow", route, status=status, times=times, after=after),
              st.sampled_from(ROUTES), st.sampled_from([500, 502, 504]), st.booleans(), st.integers(1, 2)),
    st.builds(lambda route, status: Fault("servicenow", route, status=status, times=1, retry_after=0),
              st.sampled_from(ROUTES), st.sampled_from([503, 429])))


async def through_a_fault(running: RunningSandbox, fault: Fault) -> None:
    running.sandbox.faults.add(fault)
    try:
        incident = await running.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET",
                                                           urgency="high")
        await settle_all(running)
        await act(running, incident["id"], "acknowledge", user=ASHA)
        await act(running, incident["id"], "note", user=DEV, content="Rolling back to 4.2.0")
        await running.bot.flush_work_notes()
        await act(running, incident["id"], "resolve", user=ASHA)
        await settle_all(running)
    finally:
        running.sandbox.faults.clear()
    await running.bot.flush_work_notes()
    await settle_all(running)
    ticket = ticket_for(running, incident["id"])  # exactly one
    assert ticket["state"] == "6", ticket["state"]
    timeline = [entry.text for entry in await running.bot.store.timeline(incident["id"])]
    assert note_lines(bot_notes(ticket)) == timeline
    assert await running.bot.store.dead_effects(incident["id"]) == []


async def test_servicenow_failing_under_an_incident_leaves_one_ticket_with_each_line_once(
        sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()

    # Each example is an incident's whole life through the sandbox, ticket and all (about a second).
    @settings(max_examples=int(os.environ.get("SERVICENOW_FAULT_EXAMPLES", "15")))
    @given(fault=faults)
    def prop(fault: Fault) -> None:
        on_loop.run(through_a_fault(sandbox, fault))

    await run_property(prop)
