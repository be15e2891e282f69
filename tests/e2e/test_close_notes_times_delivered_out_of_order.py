"""The times a resolved ticket's close notes give (to acknowledge, to resolve) are the incident's final ones, however
PagerDuty's webhooks were delivered: a resolve, a reopening and an acknowledgement each come late at times, and the
close notes written at the first resolve must follow what came after."""

from __future__ import annotations

from datetime import datetime, timedelta

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import deliver
from tests.e2e.servicenow_helpers import incident_data, settle_all, ticket_for, triggered
from tests.helpers import envelope

ASHA = "asha.patel@example.com"


async def delivered(running: RunningSandbox, incident_id: str, event_type: str, status: str, minutes: int) -> None:
    """PagerDuty's webhook of `event_type`, which happened `minutes` after the trigger, delivered now."""
    pd = running.sandbox.pagerduty
    created = datetime.fromisoformat(str(pd.shapes.webhook_incident(pd.account.incident(incident_id))["created_at"]))
    at = (created + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert await deliver(running, envelope(event_type, incident_data(running, incident_id, status=status),
                                           occurred_at=at)) == 202
    await settle_all(running)


async def test_a_later_resolve_delivered_before_the_reopening_it_followed_rewrites_the_time_to_resolve(
        sandbox: RunningSandbox) -> None:
    """Resolved at 12:02, reopened at 12:04, resolved for good at 12:10; PagerDuty delivered the reopening last. The
    ticket was resolved at the first resolve with "time to resolve: 2m 00s", and the second resolve (the incident's
    resolve time now 12:10: the card and the reports say 10 minutes) left the close notes as they were."""
    iid = (await triggered(sandbox, "Basket totals are wrong"))["id"]
    await delivered(sandbox, iid, "incident.resolved", "resolved", 2)
    assert "time to resolve: 2m 00s" in ticket_for(sandbox, iid)["close_notes"]
    await delivered(sandbox, iid, "incident.resolved", "resolved", 10)
    await delivered(sandbox, iid, "incident.reopened", "triggered", 4)
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "6"
    assert "time to resolve: 10m 00s" in ticket["close_notes"], ticket["close_notes"]
    assert (await sandbox.bot.store.incident(iid)).time_to_resolve_seconds == 600  # type: ignore[union-attr]


async def test_an_earlier_resolve_and_the_acknowledgement_delivered_after_the_last_resolve_keep_the_final_times(
        sandbox: RunningSandbox) -> None:
    """Acknowledged at 12:01, resolved at 12:02, reopened at 12:04, resolved at 12:10; the reopening and the last
    resolve delivered first, then the first resolve, then the acknowledgement: the close notes give the incident's
    final times — acknowledged after 1 minute, resolved after 10 — once everything is in."""
    iid = (await triggered(sandbox, "Basket totals are wrong"))["id"]
    await delivered(sandbox, iid, "incident.reopened", "triggered", 4)
    await delivered(sandbox, iid, "incident.resolved", "resolved", 10)
    assert "time to resolve: 10m 00s" in ticket_for(sandbox, iid)["close_notes"]
    await delivered(sandbox, iid, "incident.resolved", "resolved", 2)
    await delivered(sandbox, iid, "incident.acknowledged", "acknowledged", 1)
    ticket = ticket_for(sandbox, iid)
    assert ticket["state"] == "6"
    assert "Time to acknowledge: 1m 00s; time to resolve: 10m 00s." in ticket["close_notes"], ticket["close_notes"]
