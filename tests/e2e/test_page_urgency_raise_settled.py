"""A page's raise to high urgency (its ticket raised to a high priority) is recorded once per raise, and a raise given
up is settled (found in review):

- its record's id was built from the clock, so a rerun of the raise after a lost completion recorded it again, later,
  and moved `urgency_raised_at` on — from then on a snapshot saying low sent between the two times read as old news;
- a raise PagerDuty failed retryably until the effect was given up left the incident holding its page high: its card
  said high urgency until a snapshot said high or the incident resolved, while PagerDuty paged at low. Given up, the
  card says low and that the raise failed, to be done by hand."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.domain.effects.kinds import effect_from_row
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import card, incident_channels, move_clock, state
from tests.e2e.servicenow_helpers import settle_all, tickets
from tests.helpers import StartSandbox, rows

# PagerDuty's lane is patient (300 attempts): tried at once again, so that giving up takes a moment.
QUICK_TO_GIVE_UP = RetryPolicy(max_attempts=1, base_seconds=0.001, max_seconds=0.002)


def pd_incidents(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["pagerduty"]["incidents"]
    return found


async def paged_low(running: RunningSandbox) -> tuple[dict[str, str], dict[str, Any]]:
    """The desk raises a ticket for Payments at ServiceNow's default levels: its team is paged at low urgency."""
    raised: dict[str, str] = running.sandbox.servicenow.create_incident(
        {"short_description": "Card payments failing", "assignment_group": "Payments Team"}, user="service.desk")
    await settle_all(running)
    [page] = pd_incidents(running)
    assert page["urgency"] == "low"
    assert next(t for t in tickets(running) if t["sys_id"] == raised["sys_id"])["correlation_id"] == page["id"]
    return raised, page


async def desk_raises_to_p1(running: RunningSandbox, sys_id: str) -> None:
    running.sandbox.servicenow.update_incident(sys_id, {"impact": "1", "urgency": "1"}, user="service.desk")
    await running.bot.flush_work_notes()
    await settle_all(running)


async def test_a_raise_performed_again_keeps_the_time_pagerduty_first_took_it(sandbox: RunningSandbox) -> None:
    raised, page = await paged_low(sandbox)
    await desk_raises_to_p1(sandbox, raised["sys_id"])
    incident = await sandbox.bot.store.incident(page["id"])
    assert incident is not None and incident.urgency == "high" and incident.urgency_raised_at is not None
    first = incident.urgency_raised_at
    # The same raise performed again, ten minutes on: as after its completion was lost (the effect done in PagerDuty,
    # its outcome never recorded), the effect is claimed and performed a second time.
    [queued] = rows(sandbox.bot.settings.db_path, "SELECT payload FROM outbox WHERE kind='raise_page_urgency'")
    effect = effect_from_row("raise_page_urgency", json.loads(queued["payload"]))
    await move_clock(sandbox, advance_seconds=600)
    await sandbox.bot.store.queue_effect(effect, sandbox.bot.clock.now().timestamp())
    await settle_all(sandbox)
    again = await sandbox.bot.store.incident(page["id"])
    assert again is not None and again.urgency_raised_at == first, (
        f"the rerun moved urgency_raised_at from {first} to {again and again.urgency_raised_at}")
    assert first < sandbox.bot.clock.now() - timedelta(minutes=5)


async def test_a_raise_given_up_stops_the_card_claiming_high_and_says_it_failed(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(retry_policy=QUICK_TO_GIVE_UP)
    raised, page = await paged_low(running)
    running.sandbox.faults.add(Fault("pagerduty", f"PUT /incidents/{page['id']}", status=500, times=100_000,
                                     error="Internal Server Error"))
    await desk_raises_to_p1(running, raised["sys_id"])  # tried until given up: dead, the operators told
    [dead] = rows(running.bot.settings.db_path,
                  "SELECT state FROM outbox WHERE kind='raise_page_urgency'")
    assert dead["state"] == "dead"
    assert [i["urgency"] for i in pd_incidents(running)] == ["low"]
    incident = await running.bot.store.incident(page["id"])
    assert incident is not None and incident.urgency == "low" and not incident.raising_urgency, incident
    [channel] = incident_channels(running)
    blocks = str(card(running, channel)["blocks"])
    assert "high / " not in blocks, "the card said high urgency, PagerDuty paging low"
    assert "low / " in blocks and "raising the page to high urgency failed: raise it in PagerDuty by hand" in blocks
