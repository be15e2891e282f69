"""The ticket rules' decision on a linked ticket's update: its page raised only by the update that raises the
ticket's levels (from before it, as the business rule sends them, to after), and never by levels that are no plain
numbers (found in review: a "²" is a digit to Python, and `int` of it raised: the delivery was quarantined)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.effects.pagerduty import RaisePageUrgency
from bot.domain.events import Person
from bot.domain.incident import ChannelPolicy, Incident, Status
from bot.domain.ticket_rules import TICKET_KEY, TicketEvent, TicketRules, decide_ticket

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
RULES = TicketRules("pavedroad.integration", {"payments team": "payments"}, None, {"high": 1, "low": 5})
SYS_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def page(urgency: str = "low") -> Incident:
    """A page the ticket made (its key names the ticket), at low urgency."""
    return Incident(id="PPAGE01", number=7, title="INC0010001: Card payments failing", status=Status.TRIGGERED,
                    urgency=urgency, priority=None, service_id="PCHECKO", service_name="Checkout",
                    escalation_policy_id=None, escalation_policy_name=None, html_url="https://pd.example.com/i/PPAGE01",
                    assignees=(Person("P1", "Ben Okafor"),), triggered_at=T0, acknowledged_at=None, resolved_at=None,
                    state_as_of=T0, dedicated_channel=True, channel_requested=True,
                    incident_key=f"{TICKET_KEY}{SYS_ID}")


def update(impact: str, urgency: str, previous: tuple[str, str] | None, note: str = "") -> TicketEvent:
    return TicketEvent(delivery_id="d1", operation="update", sys_id=SYS_ID, number="INC0010001",
                       short_description="Card payments failing", assignment_group="Payments Team", category="",
                       state="2", linked_incident="PPAGE01", updated_by="service.desk", updated_on=T0, work_note=note,
                       comment="", impact=impact, urgency=urgency, previous_state="2", previous_group="Payments Team",
                       previous_impact=previous[0] if previous else None,
                       previous_urgency=previous[1] if previous else None)


def raised(event: TicketEvent, incident: Incident) -> bool:
    decision = decide_ticket(event, RULES, incident, T0, ChannelPolicy())
    return any(isinstance(e, RaisePageUrgency) for e in decision.effects)


def test_the_update_that_raises_the_levels_raises_the_page() -> None:
    assert raised(update("1", "1", ("3", "3")), page())


@pytest.mark.parametrize(("levels", "previous"), [
    (("1", "1"), ("1", "1")),   # a note on a ticket already at P1 (the bot set it from PagerDuty's priority)
    (("1", "1"), None),         # an older script that does not say the levels before: nothing is raised this way
    (("2", "3"), ("3", "3")),   # raised, but still nearest low urgency's priority
    (("²", "1"), ("3", "3")),   # not plain numbers: no raise, and no failure
    (("1", "1"), ("٣", "3")),
])
def test_no_raise_without_a_raise_of_the_levels(levels: tuple[str, str], previous: tuple[str, str] | None) -> None:
    assert not raised(update(*levels, previous, note="Customers calling"), page())


def test_a_page_already_high_is_not_raised_again() -> None:
    assert not raised(update("1", "1", ("3", "3")), page(urgency="high"))
