"""When a change to an incident means App Homes to publish again, and for whom (bot/domain/home.py): table-driven,
through the real state machine with the App Home on. The decision carries them (`Decision.homes`), never the outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from bot.adapters.pagerduty.webhook import read_event
from bot.domain.coordination import RoleAssignment, RoleHolder
from bot.domain.effects.kinds import effect_from_row
from bot.domain.effects.slack import OpenIncidentChannel, RefreshHomes
from bot.domain.home import HomesToRefresh, concerns, home_refresh, people_of, role_holders_of
from bot.domain.incident import ChannelPolicy, Decision, Incident, apply_event
from bot.domain.toolkit import apply_command
from tests.helpers import incident_event, note_event

HOMES = ChannelPolicy(homes=True)
T0, T1 = "2026-11-27T10:00:00.000Z", "2026-11-27T10:04:00.000Z"
ASSIGNEE = "PTUXL6G"  # the sample incident's assignee


def opened() -> Incident:
    decision = apply_event(None, read_event(incident_event("incident.triggered", occurred_at=T0)), HOMES)
    assert decision.incident is not None
    return decision.incident


def homes(decision: Decision) -> list[HomesToRefresh]:
    """The Homes the decision asks for; none of them ever queued as an effect."""
    assert not [e for e in decision.effects if isinstance(e, RefreshHomes)]
    return [decision.homes] if decision.homes is not None else []


def test_an_incident_opening_leaves_its_homes_to_the_channels_opening() -> None:
    # Refreshed once the channel is open, so that the Homes link it (bot/services/channel_opening.py).
    decision = apply_event(None, read_event(incident_event("incident.triggered", occurred_at=T0)), HOMES)
    assert decision.incident is not None
    assert homes(decision) == []
    assert decision.effects[0] == OpenIncidentChannel(decision.incident.id)


def test_first_seen_resolved_refreshes_nobody() -> None:
    decision = apply_event(None, read_event(incident_event("incident.resolved", occurred_at=T0)), HOMES)
    assert homes(decision) == []


@pytest.mark.parametrize(("event_type", "refreshed"), [
    ("incident.acknowledged", True), ("incident.resolved", True), ("incident.escalated", False),
    ("incident.priority_updated", False),
])
def test_a_change_of_status_refreshes_and_other_changes_do_not(event_type: str, refreshed: bool) -> None:
    incident = opened()
    decision = apply_event(incident, read_event(incident_event(event_type, occurred_at=T1)), HOMES)
    assert homes(decision) == ([HomesToRefresh(incident.id, (ASSIGNEE,))] if refreshed else [])


def test_a_note_refreshes_nobody() -> None:
    incident = opened()
    decision = apply_event(incident, read_event(note_event("looking", incident_id=incident.id)), HOMES)
    assert homes(decision) == []


def test_reassigning_refreshes_who_had_it_and_who_has_it_now() -> None:
    incident = opened()
    event = read_event(incident_event("incident.reassigned", occurred_at=T1, assignees=[("PNEW001", "Nia")]))
    decision = apply_event(incident, event, HOMES)
    assert homes(decision) == [HomesToRefresh(incident.id, (ASSIGNEE, "PNEW001"))]


def test_without_the_app_home_nothing_is_refreshed() -> None:
    incident = opened()
    decision = apply_event(incident, read_event(incident_event("incident.acknowledged", occurred_at=T1)),
                           ChannelPolicy())
    assert homes(decision) == []


def test_role_holders_are_concerned_too_and_refreshed_when_they_change() -> None:
    before = replace(opened(), roles=(RoleHolder("commander", "UERIN", "Erin Walsh"),))
    assert people_of(before) == (ASSIGNEE,) and role_holders_of(before) == ("UERIN",)
    assert concerns(before, None, "UERIN") and concerns(before, ASSIGNEE)
    assert not concerns(before, "PBEN", "UBEN") and not concerns(before, None)
    after = replace(before, roles=(RoleHolder("commander", "UBEN", "Ben Okafor"),))
    assert home_refresh(before, after) == HomesToRefresh(before.id, (ASSIGNEE,), ("UERIN", "UBEN"))
    assert home_refresh(before, before) is None


def test_a_role_handoff_refreshes_the_old_and_the_new_holders_homes() -> None:
    erin = RoleHolder("commander", "UERIN", "Erin Walsh")
    before = replace(opened(), roles=(RoleHolder("commander", "UBEN", "Ben Okafor"),))
    handoff = RoleAssignment(id="role-1", incident_id=before.id, at=datetime.fromisoformat(T1), holder=erin,
                             by_slack_id="UERIN", by_name="Erin Walsh")
    decision = apply_command(before, handoff, HOMES)
    assert homes(decision) == [HomesToRefresh(before.id, (ASSIGNEE,), ("UBEN", "UERIN"))]


@pytest.mark.parametrize("payload", [
    {"incident_id": "Q1", "pagerduty_user_ids": ["PTUXL6G"], "slack_user_ids": ["UERIN"]},
    {"incident_id": "Q1", "pagerduty_user_ids": ["PTUXL6G"]},  # queued before role holders were refreshed too
])
def test_a_refresh_row_queued_by_an_earlier_version_is_still_read(payload: dict[str, object]) -> None:
    # No longer queued, but a deployment upgraded mid-incident finds such rows in its outbox (performed as before).
    effect = effect_from_row("refresh_homes", payload)
    assert effect == RefreshHomes("Q1", ("PTUXL6G",), ("UERIN",) if "slack_user_ids" in payload else ())
    assert effect_from_row(effect.kind, effect.payload()) == effect
