"""The incident and its state machine: `apply_event(incident, event, policy)` → `Decision`.

Rules (see DESIGN.md, "record first, act after, never twice"):
- PagerDuty's incident-state events carry a full snapshot; the newest one by `occurred_at` wins. An event older than
  the last applied snapshot never overwrites newer state, but still lands on the timeline.
- Replaying an event the incident has already seen changes nothing and produces no effects (idempotent).
- The first sight of an incident that is not resolved opens its channel, whatever the event type (the bot may have
  been down at trigger time). An incident first seen resolved is recorded, with no channel.
- Acknowledgement time is the earliest acknowledgement seen, even when it arrives late (MTTA must not be inflated by
  delivery order).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.effects import (
    Effect,
    InviteResponders,
    OpenIncidentChannel,
    OpenTicket,
    PostTimelineEntry,
    RefreshCard,
    SyncTicket,
)
from bot.domain.events import INCIDENT_SNAPSHOT_EVENTS, IncidentEvent, IncidentSnapshot, Person
from bot.domain.follow_ups import FollowUp
from bot.domain.timeline import TimelineEntry, describe


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ChannelPolicy:
    """Which incidents get a dedicated channel: "all", "high_urgency", or a set of priorities ("P1", "P2")."""

    dedicated_for: str | frozenset[str] = "all"
    # Keep a ServiceNow ticket per incident (ServiceNow is configured).
    tickets: bool = False

    def wants_dedicated_channel(self, urgency: str, priority: str | None) -> bool:
        if self.dedicated_for == "all":
            return True
        if self.dedicated_for == "high_urgency":
            return urgency == "high"
        return isinstance(self.dedicated_for, frozenset) and priority in self.dedicated_for


@dataclass(frozen=True)
class Incident:
    """What the bot knows of a PagerDuty incident."""

    id: str
    number: int
    title: str
    status: Status
    urgency: str
    priority: str | None
    service_id: str
    service_name: str
    escalation_policy_id: str | None
    escalation_policy_name: str | None
    html_url: str
    assignees: tuple[Person, ...]
    triggered_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    # occurred_at of the newest snapshot applied; older snapshots only reach the timeline.
    state_as_of: datetime
    dedicated_channel: bool
    # The newest event id applied (the inbox is unique on event id; this makes the domain safe on its own too).
    last_event_id: str | None = None
    # An OpenIncidentChannel was decided: the incident has, or is getting, its channel (or its team-channel card).
    channel_requested: bool = False
    # PagerDuty's de-duplication key; "servicenow:<sys_id>" when a ServiceNow ticket paged the team.
    incident_key: str | None = None
    # The incident.triggered event has been applied.
    trigger_seen: bool = False
    # Action items recorded with `/incident followup` (bot/domain/contributions.py), in the order recorded.
    follow_ups: tuple[FollowUp, ...] = ()

    @property
    def time_to_acknowledge_seconds(self) -> float | None:
        return (self.acknowledged_at - self.triggered_at).total_seconds() if self.acknowledged_at else None

    @property
    def time_to_resolve_seconds(self) -> float | None:
        return (self.resolved_at - self.triggered_at).total_seconds() if self.resolved_at else None


@dataclass(frozen=True)
class Decision:
    """What applying one event means: the new incident (None if still unknown), the timeline entry and the effects."""

    incident: Incident | None
    entry: TimelineEntry | None
    effects: tuple[Effect, ...]


def apply_event(incident: Incident | None, event: IncidentEvent, policy: ChannelPolicy) -> Decision:
    """Apply one PagerDuty event to what we know of its incident (None if never seen)."""
    if not event.handled or (incident is not None and incident.last_event_id == event.id):
        return Decision(incident, None, ())
    if incident is not None and event.type == "incident.triggered" and incident.trigger_seen:
        # An incident is triggered once: a second "triggered" is a re-sent copy (new event id, same news). A trigger
        # that arrives after other events (out of order) is news, and lands on the timeline.
        return Decision(incident, None, ())
    entry = describe(event)
    if incident is None:
        return _first_sight(event, entry, policy)

    snapshot = event.snapshot
    newer = snapshot is not None and event.occurred_at >= incident.state_as_of
    updated = _adopt(incident, snapshot, event) if newer and snapshot else incident
    updated = _record_times(updated, event)
    effects: list[Effect] = []
    if entry is not None:
        effects.append(PostTimelineEntry(incident.id, entry.id))
    if set(updated.assignees) - set(incident.assignees):
        effects.append(InviteResponders(incident.id, tuple(p.id for p in updated.assignees)))
    responder = _responder_added(event)
    if responder is not None:
        effects.append(InviteResponders(incident.id, (responder.id,)))
    if _card_fields(updated) != _card_fields(incident):
        effects.append(RefreshCard(incident.id))
    if event.type == "incident.triggered":
        updated = replace(updated, trigger_seen=True)
    updated, opening = _channel_needed(updated, policy)
    if policy.tickets and ((updated.status, updated.resolved_at) != (incident.status, incident.resolved_at)
                           or (event.type == "incident.annotated" and updated.status is Status.RESOLVED)):
        # A note after the resolve (the resolution note, typically) still reaches the closed ticket's close notes.
        effects.append(SyncTicket(incident.id))
    return Decision(replace(updated, last_event_id=event.id), entry, (*opening, *effects))


def _channel_needed(incident: Incident, policy: ChannelPolicy) -> tuple[Incident, tuple[Effect, ...]]:
    """An open incident gets its channel if it has none yet (first seen resolved, then reopened), or a channel of
    its own once the policy wants one (e.g. its priority was raised to P1 after the trigger). Never downgraded."""
    if incident.status is Status.RESOLVED:
        return incident, ()
    upgrade = not incident.dedicated_channel and policy.wants_dedicated_channel(incident.urgency, incident.priority)
    if incident.channel_requested and not upgrade:
        return incident, ()
    updated = replace(incident, channel_requested=True, dedicated_channel=incident.dedicated_channel or upgrade)
    return updated, (OpenIncidentChannel(incident.id),)


def _first_sight(event: IncidentEvent, entry: TimelineEntry | None, policy: ChannelPolicy) -> Decision:
    snapshot = event.snapshot
    if snapshot is None:
        # A note or responder event for an incident we never saw carries no title or service: we cannot build a
        # channel from it. It is kept on the timeline; the next incident-state event will open the channel.
        return Decision(None, entry, ())
    incident = _record_times(_new_incident(snapshot, event, policy), event)
    effects: tuple[Effect, ...] = ()
    if incident.status is not Status.RESOLVED:
        incident = replace(incident, channel_requested=True)
        effects = (OpenIncidentChannel(incident.id),)
        if entry is not None:
            effects += (PostTimelineEntry(incident.id, entry.id),)
    if policy.tickets:
        # Even an incident first seen resolved gets its record in ServiceNow, already resolved.
        effects += (OpenTicket(incident.id), SyncTicket(incident.id))
    return Decision(incident, entry, effects)


def _new_incident(snapshot: IncidentSnapshot, event: IncidentEvent, policy: ChannelPolicy) -> Incident:
    return Incident(
        id=snapshot.id, number=snapshot.number, title=snapshot.title, status=Status(_status(snapshot)),
        urgency=snapshot.urgency, priority=snapshot.priority, service_id=snapshot.service_id,
        service_name=snapshot.service_name, escalation_policy_id=snapshot.escalation_policy_id,
        escalation_policy_name=snapshot.escalation_policy_name, html_url=snapshot.html_url,
        assignees=snapshot.assignees, triggered_at=snapshot.created_at or event.occurred_at,
        acknowledged_at=None, resolved_at=None, state_as_of=event.occurred_at,
        dedicated_channel=policy.wants_dedicated_channel(snapshot.urgency, snapshot.priority),
        last_event_id=event.id, incident_key=snapshot.incident_key,
        trigger_seen=event.type == "incident.triggered",
    )


def _status(snapshot: IncidentSnapshot) -> str:
    return snapshot.status if snapshot.status in Status.__members__.values() else Status.TRIGGERED


def _adopt(incident: Incident, snapshot: IncidentSnapshot, event: IncidentEvent) -> Incident:
    status = Status(_status(snapshot))
    return replace(
        incident, title=snapshot.title, status=status, urgency=snapshot.urgency, priority=snapshot.priority,
        service_id=snapshot.service_id or incident.service_id,
        service_name=snapshot.service_name or incident.service_name,
        escalation_policy_id=snapshot.escalation_policy_id or incident.escalation_policy_id,
        escalation_policy_name=snapshot.escalation_policy_name or incident.escalation_policy_name,
        html_url=snapshot.html_url or incident.html_url,
        # PagerDuty empties assignees on acknowledge/resolve in some payloads; keep who was on it.
        assignees=snapshot.assignees or incident.assignees,
        resolved_at=incident.resolved_at if status is Status.RESOLVED else None,
        state_as_of=event.occurred_at,
    )


def _record_times(incident: Incident, event: IncidentEvent) -> Incident:
    """Acknowledged/resolved times come from the events themselves, whatever order they arrive in."""
    if event.type == "incident.acknowledged":
        earliest = min(filter(None, (incident.acknowledged_at, event.occurred_at)))
        incident = replace(incident, acknowledged_at=earliest)
    if event.type == "incident.resolved" and incident.status is Status.RESOLVED:
        latest = max(filter(None, (incident.resolved_at, event.occurred_at)))
        incident = replace(incident, resolved_at=latest)
    return incident


def _responder_added(event: IncidentEvent) -> Person | None:
    if event.type != "incident.responder.added":
        return None
    user = event.detail.get("user")
    if isinstance(user, dict) and user.get("id"):
        return Person(str(user["id"]), str(user.get("summary") or user["id"]))
    return None


def _card_fields(incident: Incident) -> tuple[object, ...]:
    return (incident.title, incident.status, incident.urgency, incident.priority, incident.assignees,
            incident.escalation_policy_name, incident.acknowledged_at, incident.resolved_at, incident.service_name)


def is_snapshot_event(event_type: str) -> bool:
    return event_type in INCIDENT_SNAPSHOT_EVENTS
