"""PagerDuty Webhooks v3 events, read into the domain's own terms.

`read_event` turns a verified webhook envelope into an `IncidentEvent` or says why it cannot (`EventError`).
It never raises on unknown event types: those are kept (the inbox stores everything) and simply change nothing.
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


class EventError(ValueError):
    """The body is not a PagerDuty v3 envelope; the message is a one-line reason for the sender."""


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

    @property
    def handled(self) -> bool:
        return self.type in HANDLED_EVENTS and self.incident_id is not None


def parse_time(text: str) -> datetime:
    """PagerDuty timestamps: ISO 8601 with 'Z' (or an offset) and optional fractional seconds."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed


def read_envelope(body: Any) -> dict[str, Any]:
    """Check the v3 envelope's shape; return `event`. Raises EventError with the reason."""
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise EventError("missing the 'event' envelope: expected {\"event\": {...}} as PagerDuty Webhooks v3 send")
    event: dict[str, Any] = body["event"]
    for key in ("id", "event_type", "occurred_at"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise EventError(f"event.{key} is missing or not a string")
    try:
        parse_time(event["occurred_at"])
    except ValueError:
        raise EventError("event.occurred_at is not an ISO 8601 timestamp with a time zone") from None
    if "data" in event and not isinstance(event["data"], (dict, type(None))):
        raise EventError("event.data is not an object")
    return event


def read_event(body: Any) -> IncidentEvent:
    """Read a whole webhook body (already JSON-decoded) into an IncidentEvent."""
    event = read_envelope(body)
    data = event.get("data") or {}
    event_type = event["event_type"]
    snapshot = _snapshot(data) if data.get("type") == "incident" else None
    incident_id = snapshot.id if snapshot else _incident_ref(data)
    return IncidentEvent(
        id=event["id"], type=event_type, occurred_at=parse_time(event["occurred_at"]),
        incident_id=incident_id if event_type.startswith("incident.") else None,
        agent=_person(event.get("agent")), snapshot=snapshot, detail=data,
    )


def _person(ref: Any) -> Person | None:
    if not isinstance(ref, dict) or not ref.get("id"):
        return None
    return Person(id=str(ref["id"]), name=str(ref.get("summary") or ref.get("name") or ref["id"]))


def _incident_ref(data: dict[str, Any]) -> str | None:
    incident = data.get("incident")
    if isinstance(incident, dict) and incident.get("id"):
        return str(incident["id"])
    return None


def _snapshot(data: dict[str, Any]) -> IncidentSnapshot:
    if not data.get("id"):
        raise EventError("event.data.id is missing for an incident event")
    service = data.get("service") or {}
    policy = data.get("escalation_policy") or {}
    priority = data.get("priority") or {}
    assignees = tuple(p for p in (_person(a) for a in data.get("assignees") or []) if p)
    created = data.get("created_at")
    return IncidentSnapshot(
        id=str(data["id"]), number=int(data.get("number") or 0), title=str(data.get("title") or "(untitled)"),
        status=str(data.get("status") or "triggered"), urgency=str(data.get("urgency") or "high"),
        priority=str(priority["summary"]) if priority.get("summary") else None,
        service_id=str(service.get("id") or ""), service_name=str(service.get("summary") or service.get("id") or ""),
        escalation_policy_id=policy.get("id"), escalation_policy_name=policy.get("summary"),
        html_url=str(data.get("html_url") or ""), assignees=assignees,
        created_at=parse_time(created) if isinstance(created, str) else None,
        incident_key=str(data["incident_key"]) if data.get("incident_key") else None,
    )
