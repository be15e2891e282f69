"""The incident manager's commands applied to the incident (bot/domain/toolkit.py), and the PagerDuty events that
meet them (a status update coming back, the paged incident manager, a priority change): table-driven, pure, no
fakes. The events are PagerDuty's documented samples read by the adapter's reader, as in production."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.pagerduty.webhook import read_event
from bot.domain.coordination import (
    ReminderDue,
    RoleAssignment,
    RoleHolder,
    StatusUpdate,
    StatusUpdatePosted,
    UrgencyRaised,
    command_from_json,
    command_to_json,
    reminder_id,
)
from bot.domain.effects.pagerduty import PublishStatusUpdate
from bot.domain.effects.servicenow import CommentOnTicket, SyncTicket, UpdateTicketLevels
from bot.domain.effects.slack import (
    InviteToChannel,
    OfferCommand,
    PostReminder,
    PostTimelineEntry,
    RefreshCard,
    ShareStatusUpdate,
    TellPerson,
)
from bot.domain.incident import ChannelPolicy, Incident, Status, apply_event
from bot.domain.toolkit import apply_command
from tests.helpers import envelope, fixture, incident_event

POLICY = ChannelPolicy(incident_manager_policy="PIMGR01")
TICKETS = ChannelPolicy(tickets=True, incident_manager_policy="PIMGR01")
AT = datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
ERIN, BEN = RoleHolder("commander", "UERIN", "Erin Walsh"), RoleHolder("commander", "UBEN", "Ben Okafor")


def incident(**changes: object) -> Incident:
    decision = apply_event(None, read_event(incident_event("incident.triggered",
                                                           occurred_at="2026-11-27T10:00:00.000Z")), POLICY)
    assert decision.incident is not None
    return replace(decision.incident, **changes)  # type: ignore[arg-type]


def assign(holder: RoleHolder, by: str = "UBEN", command_id: str = "c1") -> RoleAssignment:
    return RoleAssignment(command_id, "PGR0VU2", AT, holder, by, "Ben Okafor")


def update(update_id: str = "update:1", what: str = "Rolling back", at: datetime = AT) -> StatusUpdatePosted:
    return StatusUpdatePosted(update_id, "PGR0VU2", at, StatusUpdate(
        update_id, at, "Erin Walsh", what, "1 in 5 payments fail", at + timedelta(minutes=30), "UERIN",
        "erin.walsh@example.com"))


# ----- roles -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "holder", "by", "text"), [
    ((), ERIN, "UBEN", "Erin Walsh is now commander (assigned by Ben Okafor)"),
    ((), BEN, "UBEN", "Ben Okafor is now commander"),
    ((BEN,), ERIN, "UERIN", "Erin Walsh took over as commander from Ben Okafor"),
    ((RoleHolder("communications", "UBEN", "Ben Okafor"),), ERIN, "UERIN", "Erin Walsh is now commander"),
])
def test_a_role_assignment_is_one_line_an_invite_and_a_card_refresh(before: tuple[RoleHolder, ...],
                                                                    holder: RoleHolder, by: str, text: str) -> None:
    decision = apply_command(incident(roles=before), assign(holder, by), POLICY)
    assert decision.entry is not None and decision.entry.text == text
    assert decision.effects == (PostTimelineEntry("PGR0VU2", "c1"), InviteToChannel("PGR0VU2", (holder.slack_user_id,)),
                                RefreshCard("PGR0VU2"))
    assert decision.incident is not None and decision.incident.commander == holder
    assert {h.role for h in decision.incident.roles} == {h.role for h in before} | {"commander"}


def test_a_role_change_reaches_the_tickets_work_notes_when_there_is_a_ticket() -> None:
    assert SyncTicket("PGR0VU2") in apply_command(incident(), assign(ERIN), TICKETS).effects


def test_assigning_the_holder_again_changes_nothing() -> None:
    before = incident(roles=(ERIN,))
    assert apply_command(before, assign(ERIN, command_id="c2"), POLICY).effects == ()


def test_a_take_command_applied_after_someone_filled_the_seat_unseats_nobody_and_tells_the_clicker() -> None:
    """Erin's Take command was recorded while the seat was empty; Ben's `/incident role commander me` was applied
    first. Erin's take made her commander, "taking over" from Ben: it offered an empty seat, which was gone."""
    take = replace(assign(RoleHolder("commander", "UERIN", "Erin Walsh"), by="UERIN"), vacant_only=True)
    before = incident(roles=(BEN,))
    decision = apply_command(before, command_from_json(command_to_json(take)), POLICY)
    assert decision.incident == before and decision.entry is None
    [told] = decision.effects
    assert isinstance(told, TellPerson) and told.user == "UERIN" and "Ben Okafor took command" in told.text
    assert apply_command(incident(), take, POLICY).incident.commander.name == "Erin Walsh"  # type: ignore[union-attr]


def test_a_command_for_an_incident_never_seen_changes_nothing() -> None:
    assert apply_command(None, assign(ERIN), POLICY).effects == ()


# ----- status updates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "ticket"), [(POLICY, ()), (TICKETS, (CommentOnTicket("PGR0VU2", "update:1"),))])
def test_a_status_update_goes_to_the_channel_stakeholders_pagerduty_and_the_ticket(
        policy: ChannelPolicy, ticket: tuple[CommentOnTicket, ...]) -> None:
    decision = apply_command(incident(), update(), policy)
    assert decision.effects == (PostTimelineEntry("PGR0VU2", "update:1"), ShareStatusUpdate("PGR0VU2", "update:1"),
                                PublishStatusUpdate("PGR0VU2", "update:1"), *ticket, RefreshCard("PGR0VU2"))
    assert decision.entry is not None and decision.entry.kind == "status_update"
    assert decision.entry.text.startswith("Status update by Erin Walsh: Rolling back · Impact: 1 in 5 payments fail")
    assert decision.incident is not None and decision.incident.last_update == update().update


def test_the_same_update_applied_again_changes_nothing() -> None:
    once = apply_command(incident(), update(), POLICY).incident
    assert apply_command(once, update(), POLICY).effects == ()


def test_the_incident_keeps_its_latest_twenty_updates_once_the_older_are_hours_old() -> None:
    """(Those made within hours are kept longer, their effects may still be on their way:
    tests/domain/test_kept_updates.py.)"""
    current: Incident | None = incident()
    for n in range(25):
        posted = update(f"update:{n}", at=AT + timedelta(hours=n))
        confirmed = replace(posted, update=replace(posted.update, in_pagerduty=True))
        current = apply_command(current, confirmed, POLICY).incident
    assert current is not None and [u.id for u in current.status_updates] == [f"update:{n}" for n in range(5, 25)]


def published_webhook(message: str, *, trimmed: bool = False) -> dict[str, object]:
    data = copy.deepcopy(fixture("data.incident_status_update.json"))
    data.update(message=message, trimmed=trimmed)
    return envelope("incident.status_update_published", data, occurred_at="2026-11-27T10:05:02.000Z")


@pytest.mark.parametrize(("message", "trimmed"), [
    ("Rolling back\nImpact: 1 in 5 payments fail\nNext update by 10:35 UTC.", False),
    ("Rolling back\nImpact: 1 in", True),
])
def test_pagerdutys_webhook_for_an_update_made_in_slack_adds_no_second_line(message: str, trimmed: bool) -> None:
    posted = apply_command(incident(), update(), POLICY).incident
    decision = apply_event(posted, read_event(published_webhook(message, trimmed=trimmed)), POLICY)
    assert decision.entry is None and decision.effects == ()
    assert decision.incident is not None and decision.incident.status_updates[0].in_pagerduty


def test_an_update_published_in_pagerduty_itself_is_a_line_and_the_latest_update() -> None:
    decision = apply_event(incident(), read_event(published_webhook("Fixed by failover")), POLICY)
    assert decision.entry is not None and "Status update by Tenex Engineer: Fixed by failover" in decision.entry.text
    assert decision.effects == (PostTimelineEntry("PGR0VU2", decision.entry.id), RefreshCard("PGR0VU2"))
    assert decision.incident is not None and decision.incident.last_update is not None
    assert decision.incident.last_update.source == "pagerduty"


# ----- reminders --------------------------------------------------------------------------------------------------


def reminder(since: datetime) -> ReminderDue:
    return ReminderDue(reminder_id("PGR0VU2", since, 1), "PGR0VU2", since + timedelta(minutes=31), since, 1)


def test_a_reminder_found_due_is_posted() -> None:
    open_ = incident()
    assert apply_command(open_, reminder(open_.triggered_at), POLICY).effects == (
        PostReminder("PGR0VU2", reminder(open_.triggered_at).id),)


def test_no_reminder_once_an_update_came_in_or_the_incident_is_resolved() -> None:
    open_ = incident()
    updated = apply_command(open_, update(), POLICY).incident
    assert apply_command(updated, reminder(open_.triggered_at), POLICY).effects == ()
    assert apply_command(replace(open_, status=Status.RESOLVED), reminder(open_.triggered_at), POLICY).effects == ()


# ----- the paged incident manager, and priority ------------------------------------------------------------------


def responder(event_type: str, policy_id: str | None, state: str = "pending") -> dict[str, object]:
    data = copy.deepcopy(fixture("data.incident_responder.json"))
    data.update(state=state, escalation_policy={"id": policy_id, "type": "escalation_policy_reference"}
                if policy_id else None)
    return envelope(event_type, data, occurred_at="2026-11-27T10:06:00.000Z")


@pytest.mark.parametrize(("before", "event_type", "policy_id", "state", "offered"), [
    ((), "incident.responder.added", "PIMGR01", "pending", True),
    ((), "incident.responder.replied", "PIMGR01", "joined", True),
    ((), "incident.responder.replied", "PIMGR01", "declined", False),
    ((), "incident.responder.added", "PJFWPEP", "pending", False),   # paged through another policy
    ((ERIN,), "incident.responder.added", "PIMGR01", "pending", False),  # somebody leads already
])
def test_the_paged_incident_manager_is_offered_command_while_nobody_leads(
        before: tuple[RoleHolder, ...], event_type: str, policy_id: str, state: str, offered: bool) -> None:
    decision = apply_event(incident(roles=before), read_event(responder(event_type, policy_id, state)), POLICY)
    assert (OfferCommand("PGR0VU2", "PVMGSML") in decision.effects) is offered


def test_command_is_offered_once() -> None:
    first = apply_event(incident(), read_event(responder("incident.responder.added", "PIMGR01")), POLICY).incident
    again = apply_event(first, read_event(responder("incident.responder.replied", "PIMGR01", "joined")), POLICY)
    assert not any(isinstance(e, OfferCommand) for e in again.effects)


def test_a_priority_change_sets_the_tickets_impact_and_urgency() -> None:
    changed = read_event(incident_event("incident.priority_updated", priority="P3",
                                        occurred_at="2026-11-27T10:07:00.000Z"))
    assert UpdateTicketLevels("PGR0VU2") in apply_event(incident(), changed, TICKETS).effects
    assert not any(isinstance(e, UpdateTicketLevels) for e in apply_event(incident(), changed, POLICY).effects)


def test_a_raise_refused_is_read_back_refused_and_an_older_record_as_taken() -> None:
    refused = UrgencyRaised("urgency-raise-refused:PGR0VU2", "PGR0VU2", AT, taken=False)
    assert command_from_json(command_to_json(refused)) == refused
    older = json.dumps({"type": "page.urgency_raised", "id": "urgency-raised:PGR0VU2", "incident_id": "PGR0VU2",
                        "at": AT.isoformat()})
    assert command_from_json(older) == UrgencyRaised("urgency-raised:PGR0VU2", "PGR0VU2", AT)
