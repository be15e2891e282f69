"""The incident state machine, table-driven over every transition, with no fakes: pure functions only (the events are
PagerDuty's documented samples, read by the PagerDuty adapter's reader as in production)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from bot.adapters.pagerduty.webhook import read_event
from bot.domain.effects.slack import DraftReview, InviteResponders, OpenIncidentChannel, PostTimelineEntry, RefreshCard
from bot.domain.incident import (
    ChannelPolicy,
    Incident,
    Status,
    apply_event,
    raised_to_high_urgency,
    urgency_raise_confirmed,
    urgency_raise_refused,
)
from tests.helpers import incident_event, note_event

POLICY = ChannelPolicy()
T0 = "2026-11-27T10:00:00.000Z"
T1 = "2026-11-27T10:04:00.000Z"
T2 = "2026-11-27T10:30:00.000Z"


def known(status: str, at: str = T0) -> Incident:
    decision = apply_event(None, read_event(incident_event("incident.triggered", occurred_at=T0)), POLICY)
    assert decision.incident is not None
    incident = decision.incident
    if status != "triggered":
        event_type = {"acknowledged": "incident.acknowledged", "resolved": "incident.resolved"}[status]
        changed = apply_event(incident, read_event(incident_event(event_type, occurred_at=at)), POLICY).incident
        assert changed is not None
        incident = changed
    return incident


# (current status, event type, status in the event's snapshot, expected status)
TRANSITIONS = [
    ("triggered", "incident.acknowledged", "acknowledged", Status.ACKNOWLEDGED),
    ("triggered", "incident.resolved", "resolved", Status.RESOLVED),
    ("triggered", "incident.escalated", "triggered", Status.TRIGGERED),
    ("triggered", "incident.reassigned", "triggered", Status.TRIGGERED),
    ("triggered", "incident.delegated", "triggered", Status.TRIGGERED),
    ("triggered", "incident.priority_updated", "triggered", Status.TRIGGERED),
    ("acknowledged", "incident.unacknowledged", "triggered", Status.TRIGGERED),
    ("acknowledged", "incident.resolved", "resolved", Status.RESOLVED),
    ("acknowledged", "incident.escalated", "acknowledged", Status.ACKNOWLEDGED),
    ("acknowledged", "incident.reassigned", "triggered", Status.TRIGGERED),
    ("resolved", "incident.reopened", "triggered", Status.TRIGGERED),
    # Illegal in PagerDuty (a resolved incident cannot be acknowledged without a reopen we missed): the newer
    # snapshot is still the truth, so the bot follows it rather than keeping a state PagerDuty no longer has.
    ("resolved", "incident.acknowledged", "acknowledged", Status.ACKNOWLEDGED),
    ("triggered", "incident.unacknowledged", "triggered", Status.TRIGGERED),
    ("acknowledged", "incident.reopened", "triggered", Status.TRIGGERED),
    ("resolved", "incident.escalated", "resolved", Status.RESOLVED),
    ("resolved", "incident.reassigned", "resolved", Status.RESOLVED),
    ("resolved", "incident.priority_updated", "resolved", Status.RESOLVED),
    # A snapshot whose status is not one we know is read as triggered rather than crashing the worker.
    ("triggered", "incident.service_updated", "weird", Status.TRIGGERED),
]


@pytest.mark.parametrize(("current", "event_type", "snapshot_status", "expected"), TRANSITIONS)
def test_newer_event_moves_the_incident(current: str, event_type: str, snapshot_status: str,
                                        expected: Status) -> None:
    incident = known(current, at=T1)
    # A priority update changes the priority (the same one again is no news: see below).
    changes: dict[str, Any] = {"priority": "P2"} if event_type == "incident.priority_updated" else {}
    event = read_event(incident_event(event_type, status=snapshot_status, occurred_at=T2, **changes))
    decision = apply_event(incident, event, POLICY)
    assert decision.incident is not None
    assert decision.incident.status is expected
    assert decision.entry is not None and decision.entry.id == event.id
    assert PostTimelineEntry(incident.id, event.id) in decision.effects
    assert (RefreshCard(incident.id) in decision.effects) == (expected is not incident.status or bool(changes))


@pytest.mark.parametrize(("current", "event_type"), [
    ("acknowledged", "incident.escalated"), ("resolved", "incident.acknowledged"),
    ("resolved", "incident.reassigned"), ("acknowledged", "incident.unacknowledged"),
])
def test_older_event_lands_on_the_timeline_but_never_overwrites_newer_state(current: str, event_type: str) -> None:
    incident = known(current, at=T2)
    event = read_event(incident_event(event_type, status="triggered", occurred_at=T1, title="Old title"))
    decision = apply_event(incident, event, POLICY)
    assert decision.incident is not None
    assert decision.incident.status is incident.status
    assert decision.incident.title == incident.title
    assert decision.entry is not None
    # A late acknowledgement still counts for time-to-acknowledge, which the card shows.
    refresh = (RefreshCard(incident.id),) if decision.incident.acknowledged_at != incident.acknowledged_at else ()
    assert decision.effects == (PostTimelineEntry(incident.id, event.id), *refresh)


def test_replaying_the_same_event_changes_nothing() -> None:
    incident = known("triggered")
    event = read_event(incident_event("incident.acknowledged", occurred_at=T1))
    once = apply_event(incident, event, POLICY)
    twice = apply_event(once.incident, event, POLICY)
    assert twice.incident == once.incident
    assert twice.effects == () and twice.entry is None


@pytest.mark.parametrize("event_type", ["incident.triggered", "incident.acknowledged", "incident.escalated",
                                        "incident.priority_updated", "incident.reassigned"])
def test_first_sight_of_an_open_incident_opens_its_channel(event_type: str) -> None:
    status = "acknowledged" if event_type == "incident.acknowledged" else "triggered"
    event = read_event(incident_event(event_type, status=status, occurred_at=T1))
    decision = apply_event(None, event, POLICY)
    assert decision.incident is not None and decision.incident.status.value == status
    assert decision.effects == (OpenIncidentChannel("PGR0VU2"), PostTimelineEntry("PGR0VU2", event.id))


def test_first_sight_of_a_resolved_incident_records_it_without_a_channel() -> None:
    decision = apply_event(None, read_event(incident_event("incident.resolved", occurred_at=T1)), POLICY)
    assert decision.incident is not None and decision.incident.status is Status.RESOLVED
    assert decision.effects == ()


def test_a_note_for_an_unknown_incident_is_kept_but_opens_nothing() -> None:
    decision = apply_event(None, read_event(note_event("hello")), POLICY)
    assert decision.incident is None
    assert decision.entry is not None and "hello" in decision.entry.text
    assert decision.effects == ()


def test_acknowledgement_time_is_the_earliest_seen_even_when_it_arrives_late() -> None:
    incident = known("triggered")
    late = read_event(incident_event("incident.acknowledged", occurred_at=T2))
    early = read_event(incident_event("incident.acknowledged", occurred_at=T1))
    after_late = apply_event(incident, late, POLICY).incident
    assert after_late is not None
    after_both = apply_event(after_late, early, POLICY).incident
    assert after_both is not None
    assert after_both.time_to_acknowledge_seconds == 240


def test_resolved_records_time_to_resolve_and_reopen_clears_it() -> None:
    incident = known("resolved", at=T2)
    assert incident.time_to_resolve_seconds == timedelta(minutes=30).total_seconds()
    reopened = apply_event(incident, read_event(incident_event("incident.reopened", status="triggered",
                                                               occurred_at="2026-11-27T11:00:00Z")), POLICY)
    assert reopened.incident is not None
    assert reopened.incident.resolved_at is None and reopened.incident.status is Status.TRIGGERED


def test_new_assignees_are_invited() -> None:
    incident = known("triggered")
    event = read_event(incident_event("incident.escalated", occurred_at=T1,
                                      assignees=[("PTUXL6G", "User 123"), ("PNEW001", "Nia")]))
    decision = apply_event(incident, event, POLICY)
    # Only the one it newly came to (the assignee it had already is not pulled back into a channel they left).
    assert InviteResponders(incident.id, ("PNEW001",)) in decision.effects


def test_responder_added_is_invited_and_timelined() -> None:
    from tests.helpers import envelope, fixture
    incident = known("triggered")
    event = read_event(envelope("incident.responder.added", fixture("data.incident_responder.json"), occurred_at=T1))
    decision = apply_event(incident, event, POLICY)
    assert InviteResponders(incident.id, ("PVMGSML",)) in decision.effects
    assert decision.entry is not None and "Maeve asked to respond" in decision.entry.text


@pytest.mark.parametrize(("event_type", "fixture_name", "expected_text"), [
    ("incident.annotated", "data.incident_note.json", "Note by Tenex Engineer: I sure am glad"),
    ("incident.responder.replied", "data.incident_responder.json", "Maeve answered the request"),
    ("incident.status_update_published", "data.incident_status_update.json", "Status update by Tenex Engineer"),
])
def test_timeline_only_events(event_type: str, fixture_name: str, expected_text: str) -> None:
    from tests.helpers import envelope, fixture
    incident = known("triggered")
    decision = apply_event(incident, read_event(envelope(event_type, fixture(fixture_name), occurred_at=T1)), POLICY)
    assert decision.entry is not None and expected_text in decision.entry.text
    assert decision.incident is not None and decision.incident.status is Status.TRIGGERED
    # A status update published in PagerDuty is also the incident's latest: the card shows it.
    refresh = (RefreshCard(incident.id),) if event_type == "incident.status_update_published" else ()
    assert decision.effects == (PostTimelineEntry(incident.id, decision.entry.id), *refresh)


def test_unhandled_event_types_change_nothing() -> None:
    from tests.helpers import envelope, fixture
    event = read_event(envelope("service.updated", fixture("data.service.json"), occurred_at=T1))
    assert apply_event(None, event, POLICY).effects == ()


@pytest.mark.parametrize(("policy", "urgency", "priority", "dedicated"), [
    (ChannelPolicy("all"), "low", None, True),
    (ChannelPolicy("high_urgency"), "high", None, True),
    (ChannelPolicy("high_urgency"), "low", "P1", False),
    (ChannelPolicy(frozenset({"P1", "P2"})), "high", "P3", False),
    (ChannelPolicy(frozenset({"P1", "P2"})), "low", "P2", True),
])
def test_channel_policy(policy: ChannelPolicy, urgency: str, priority: str | None, dedicated: bool) -> None:
    event = read_event(incident_event("incident.triggered", urgency=urgency, priority=priority))
    decision = apply_event(None, event, policy)
    assert decision.incident is not None and decision.incident.dedicated_channel is dedicated
    assert decision.effects[0] == OpenIncidentChannel("PGR0VU2")


def test_an_incident_first_seen_resolved_gets_its_channel_when_reopened() -> None:
    first = apply_event(None, read_event(incident_event("incident.resolved", occurred_at=T1)), POLICY)
    assert first.incident is not None and first.effects == ()
    reopened = read_event(incident_event("incident.reopened", status="triggered", occurred_at=T2))
    decision = apply_event(first.incident, reopened, POLICY)
    assert decision.incident is not None and decision.incident.channel_requested
    assert decision.effects[0] == OpenIncidentChannel("PGR0VU2")
    again = apply_event(decision.incident, read_event(incident_event("incident.escalated", occurred_at=T2)), POLICY)
    assert OpenIncidentChannel("PGR0VU2") not in again.effects


def test_raising_the_priority_later_upgrades_a_team_card_to_a_channel_of_its_own() -> None:
    p1_only = ChannelPolicy(frozenset({"P1"}))
    first = apply_event(None, read_event(incident_event("incident.triggered", priority=None)), p1_only)
    assert first.incident is not None and not first.incident.dedicated_channel
    raised = read_event(incident_event("incident.priority_updated", priority="P1", occurred_at=T1))
    decision = apply_event(first.incident, raised, p1_only)
    assert decision.incident is not None and decision.incident.dedicated_channel
    assert decision.effects[0] == OpenIncidentChannel("PGR0VU2")
    lowered = read_event(incident_event("incident.priority_updated", priority="P3", occurred_at=T2))
    after = apply_event(decision.incident, lowered, p1_only)
    assert after.incident is not None and after.incident.dedicated_channel  # never downgraded
    assert OpenIncidentChannel("PGR0VU2") not in after.effects


def test_an_event_at_the_same_instant_as_the_last_one_still_applies() -> None:
    incident = known("acknowledged", at=T1)
    decision = apply_event(incident, read_event(incident_event("incident.resolved", occurred_at=T1)), POLICY)
    assert decision.incident is not None and decision.incident.status is Status.RESOLVED


def test_a_re_sent_trigger_under_a_new_event_id_adds_nothing() -> None:
    incident = known("acknowledged", at=T1)
    again = apply_event(incident, read_event(incident_event("incident.triggered", occurred_at=T0)), POLICY)
    assert again.incident == incident and again.entry is None and again.effects == ()


def test_a_trigger_that_arrives_after_other_events_still_lands_on_the_timeline() -> None:
    first = apply_event(None, read_event(incident_event("incident.acknowledged", occurred_at=T1)), POLICY)
    assert first.incident is not None and not first.incident.trigger_seen
    late = apply_event(first.incident, read_event(incident_event("incident.triggered", occurred_at=T0)), POLICY)
    assert late.entry is not None and late.entry.text.startswith("Triggered")
    assert late.incident is not None and late.incident.status is Status.ACKNOWLEDGED


def test_a_priority_updated_to_what_it_already_was_is_no_news() -> None:
    """PagerDuty tells of a priority set twice (`/incident priority P1` sent twice, both reaching it before its
    webhook): the second is no timeline line. An older update of another priority, arriving late, is history."""
    incident = known("triggered", at=T1)
    assert incident.priority == "P1"
    again = apply_event(incident, read_event(incident_event("incident.priority_updated", occurred_at=T2,
                                                            priority="P1", event_id="E-again")), POLICY)
    assert again.entry is None and not any(isinstance(e, PostTimelineEntry) for e in again.effects)
    late = apply_event(incident, read_event(incident_event("incident.priority_updated", occurred_at=T0,
                                                           priority="P3", event_id="E-late")), POLICY)
    assert late.entry is not None and late.entry.text.startswith("Priority set to P3")


def test_a_resolve_queues_its_review_draft_when_the_catalogue_asks() -> None:
    incident = known("acknowledged", at=T1)
    event = read_event(incident_event("incident.resolved", occurred_at=T2))
    asked = apply_event(incident, event, replace(POLICY, reviews_on_resolve=True))
    [draft] = [e for e in asked.effects if isinstance(e, DraftReview)]
    assert draft == DraftReview(incident.id, after_resolve=True) and draft.due_in_seconds() == 60.0
    assert not any(isinstance(e, DraftReview) for e in apply_event(incident, event, POLICY).effects)
    # Only a resolve: an acknowledgement drafts nothing.
    ack = read_event(incident_event("incident.acknowledged", occurred_at=T2))
    assert not any(isinstance(e, DraftReview) for e in apply_event(known("triggered", at=T1), ack,
                                                                   replace(POLICY, reviews_on_resolve=True)).effects)


@pytest.mark.parametrize("order", ["as they happened", "decline delivered first"])
def test_a_responder_request_and_its_decline_count_by_when_they_happened(order: str) -> None:
    """Asked at T1, declined at T2: not a responder, whichever PagerDuty delivers first; asked again later: again."""
    from tests.helpers import envelope, fixture
    asked = fixture("data.incident_responder.json")
    declined = {**asked, "state": "declined"}
    request = read_event(envelope("incident.responder.added", asked, occurred_at=T1))
    decline = read_event(envelope("incident.responder.replied", declined, occurred_at=T2))
    incident: Incident | None = known("triggered")
    for event in (request, decline) if order == "as they happened" else (decline, request):
        incident = apply_event(incident, event, POLICY).incident
    assert incident is not None and incident.responders == ()
    again = read_event(envelope("incident.responder.added", asked, occurred_at="2026-11-27T10:45:00.000Z"))
    incident = apply_event(incident, again, POLICY).incident
    assert incident is not None and incident.responders == ("PVMGSML",)



def test_a_request_delivered_after_its_decline_invites_nobody_and_offers_no_command() -> None:
    """Maeve is paged through the incident-manager rota (T1) and declines (T2); PagerDuty delivers the decline first.
    The late request is old news: she is not pulled into the channel nor offered command she said no to."""
    from bot.domain.effects.slack import OfferCommand
    from tests.helpers import envelope, fixture
    policy = replace(POLICY, incident_manager_policy="PJFWPEP")
    asked = fixture("data.incident_responder.json")
    decline = read_event(envelope("incident.responder.replied", {**asked, "state": "declined"}, occurred_at=T2))
    declined = apply_event(known("triggered"), decline, policy).incident
    assert declined is not None
    late = apply_event(declined, read_event(envelope("incident.responder.added", asked, occurred_at=T1)), policy)
    assert not [e for e in late.effects if isinstance(e, InviteResponders | OfferCommand)], late.effects
    again = apply_event(late.incident, read_event(envelope("incident.responder.added", asked,
                                                           occurred_at="2026-11-27T10:45:00.000Z")), policy)
    assert {type(e) for e in again.effects} >= {InviteResponders, OfferCommand}, "asked again later: invited, offered"


def low_page() -> Incident:
    decision = apply_event(None, read_event(incident_event("incident.triggered", occurred_at=T0, urgency="low",
                                                           priority=None)), POLICY)
    assert decision.incident is not None
    return decision.incident


def snapshot_at(incident: Incident, event_type: str, at: str, urgency: str) -> Incident:
    updated = apply_event(incident, read_event(incident_event(event_type, occurred_at=at, urgency=urgency,
                                                              priority=None)), POLICY).incident
    assert updated is not None
    return updated


def test_a_snapshot_saying_low_before_pagerduty_took_the_bots_raise_does_not_lower_it() -> None:
    """The bot raises the page (its ticket raised to P1); an acknowledgement's snapshot, sent before PagerDuty took the
    raise, still says low: not a lowering. Once PagerDuty has taken it (at T2), a snapshot from before still is not;
    one from after is someone lowering it, and is followed."""
    raised, _, _ = raised_to_high_urgency(low_page(), POLICY)
    acked = snapshot_at(raised, "incident.acknowledged", T1, "low")
    assert (acked.urgency, acked.raising_urgency) == ("high", True)
    confirmed = urgency_raise_confirmed(acked, read_event(incident_event("incident.escalated", occurred_at=T2))
                                        .occurred_at)
    assert snapshot_at(confirmed, "incident.acknowledged", T1, "low").urgency == "high"
    assert snapshot_at(confirmed, "incident.escalated", "2026-11-27T10:45:00.000Z", "low").urgency == "low"


def test_a_raise_refused_or_given_up_says_so_until_the_page_is_high() -> None:
    """Refused (or given up after its attempts), the page is low and the card says the raise failed; a snapshot saying
    high (someone raised it by hand) ends that, and so does another raise, or the resolve."""
    raised, _, _ = raised_to_high_urgency(low_page(), POLICY)
    failed = urgency_raise_refused(raised)
    assert (failed.urgency, failed.raising_urgency, failed.urgency_raise_failed) == ("low", False, True)
    assert snapshot_at(failed, "incident.acknowledged", T1, "low").urgency_raise_failed
    assert not snapshot_at(failed, "incident.escalated", T1, "high").urgency_raise_failed
    assert not snapshot_at(failed, "incident.resolved", T1, "low").urgency_raise_failed
    assert not raised_to_high_urgency(failed, POLICY)[0].urgency_raise_failed
    assert urgency_raise_refused(urgency_raise_confirmed(raised, raised.triggered_at)) == urgency_raise_confirmed(
        raised, raised.triggered_at), "a raise PagerDuty took is not failed by a later refusal"


def test_a_snapshot_saying_high_ends_the_wait_for_the_raise() -> None:
    raised, _, _ = raised_to_high_urgency(low_page(), POLICY)
    seen = snapshot_at(raised, "incident.escalated", T1, "high")
    assert (seen.urgency, seen.raising_urgency) == ("high", False)
    assert snapshot_at(seen, "incident.escalated", T2, "low").urgency == "low", "a lowering after it is followed"
