"""Incident events in the domain's own terms: who (`Person`), the incident as it was described (`IncidentSnapshot`),
and what happened (`IncidentEvent`), with the event types the domain acts on. Plain data: the PagerDuty adapter
(bot/adapters/pagerduty/webhook.py) reads them from the webhook's JSON; an event type not listed here is kept and
simply changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Events that carry a full incident snapshot in `data` (data.type == "incident").
INCIDENT_SNAPSHOT_EVENTS = frozenset({
    "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.resolved",
    "incident.reopened", "incident.escalated", "incident.reassigned", "incident.delegated",
    "incident.priority_updated", "incident.service_updated", "incident.incident_type.changed",
})
# Events that add to the timeline without a snapshot of the incident.
INCIDENT_TIMELINE_EVENTS = frozenset({
    "incident.annotated", "incident.responder.added", "incident.responder.replied",
    "incident.status_update_published", "incident.conference_bridge.updated", "incident.role.assigned",
})
HANDLED_EVENTS = INCIDENT_SNAPSHOT_EVENTS | INCIDENT_TIMELINE_EVENTS


@dataclass(frozen=True)
class Person:
    """Someone PagerDuty names: an assignee, a responder, the agent of a change."""

    id: str
    name: str


@dataclass(frozen=True)
class IncidentSnapshot:
    """The incident as PagerDuty described it in one event."""

    id: str
    number: int
    title: str
    status: str
    urgency: str
    priority: str | None
    service_id: str
    service_name: str
    escalation_policy_id: str | None
    escalation_policy_name: str | None
    html_url: str
    assignees: tuple[Person, ...]
    created_at: datetime | None
    incident_key: str | None = None
    # The fields among title, status, urgency and priority the event did not carry (its `data` left them out, rather
    # than setting them to null): what was known of them stands. A first sight reads the defaults above instead.
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class IncidentEvent:
    """One delivery's event: `snapshot` is set for incident-state events, `detail` holds the rest of `data`."""

    id: str
    type: str
    occurred_at: datetime
    incident_id: str | None
    agent: Person | None
    snapshot: IncidentSnapshot | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # PagerDuty names the kind of agent: False for a service or an integration that acted by itself (an alert's
    # trigger, an auto-resolve): it is named in the timeline's text, but it is no responder.
    agent_is_person: bool = True

    @property
    def handled(self) -> bool:
        return self.type in HANDLED_EVENTS and self.incident_id is not None
