"""A ticket's priority raised after its team was paged (found in review, session 25; NOT FIXED): the page keeps the
urgency the ticket had when it was raised. Kept as a strict xfail so that the gap is seen, and so that the test says
when it is closed: raising the page's urgency needs a new effect (PUT /incidents/{id} urgency high, and a timeline
line), and effects.py and executor.py are at the module size limit (README, ServiceNow → urgency)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import state
from tests.e2e.servicenow_helpers import settle_all, tickets


def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


def ticket(running: RunningSandbox, sys_id: str) -> dict[str, Any]:
    return next(t for t in tickets(running) if t["sys_id"] == sys_id)


async def paged(running: RunningSandbox, **fields: str) -> tuple[dict[str, str], dict[str, Any]]:
    raised = running.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team", **fields},
        user="service.desk")
    await settle_all(running)
    [page] = pd_incidents(running)
    assert ticket(running, raised["sys_id"])["correlation_id"] == page["id"]
    return raised, page


async def flushed(running: RunningSandbox) -> None:
    await running.bot.flush_work_notes()
    await settle_all(running)


@pytest.mark.xfail(strict=True, reason="not fixed: a linked ticket's later impact/urgency are not read; raising its "
                   "page's urgency (PUT /incidents/{id} urgency high, and a timeline line) is still to do")
async def test_a_ticket_raised_to_p1_after_its_page_pages_at_high_urgency(sandbox: RunningSandbox) -> None:
    """A ticket raised with ServiceNow's default levels (3/3, priority 5) pages low; the desk raises it to impact 1 /
    urgency 1 a minute later. Once paged the ticket is linked, so the new levels are never read: the P1 stays a
    low-urgency page that wakes nobody."""
    raised, page = await paged(sandbox)
    assert page["urgency"] == "low"
    sandbox.sandbox.servicenow.update_incident(raised["sys_id"], {"impact": "1", "urgency": "1"},
                                               user="service.desk")
    await flushed(sandbox)
    assert ticket(sandbox, raised["sys_id"])["priority"] == "1"
    assert [i["urgency"] for i in pd_incidents(sandbox)] == ["high"], "a P1 ticket's team was paged at low urgency"
