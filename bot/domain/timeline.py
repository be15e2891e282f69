"""Timeline entries: one readable line per incident event — who did what, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.events import IncidentEvent


@dataclass(frozen=True)
class TimelineEntry:
    id: str
    incident_id: str
    occurred_at: datetime
    kind: str
    actor: str | None  # the person who did it; None when nobody did (a service or an integration, by itself)
    text: str


def describe(event: IncidentEvent) -> TimelineEntry | None:
    """The timeline line for an event, or None for events that tell people nothing new."""
    if event.incident_id is None:
        return None
    who = event.agent.name if event.agent else None
    by = f" by {who}" if who else ""
    snapshot = event.snapshot
    detail = event.detail
    kind = event.type.removeprefix("incident.")
    match event.type:
        case "incident.triggered":
            text = f"Triggered on {snapshot.service_name}" if snapshot else "Triggered"
            if snapshot and snapshot.assignees:
                text += f", assigned to {_names(snapshot.assignees)}"
        case "incident.acknowledged":
            text = f"Acknowledged{by}"
        case "incident.unacknowledged":
            text = "Unacknowledged: the acknowledgement timed out and the incident is open again"
        case "incident.resolved":
            text = f"Resolved{by}"
        case "incident.reopened":
            text = f"Reopened{by}"
        case "incident.escalated":
            text = f"Escalated{by}" + (f" to {_names(snapshot.assignees)}" if snapshot and snapshot.assignees else "")
        case "incident.reassigned":
            text = f"Reassigned{by}" + (f" to {_names(snapshot.assignees)}" if snapshot and snapshot.assignees else "")
        case "incident.delegated":
            policy = snapshot.escalation_policy_name if snapshot else None
            text = f"Delegated{by}" + (f" to {policy}" if policy else "")
        case "incident.priority_updated":
            text = f"Priority set to {snapshot.priority or 'none'}{by}" if snapshot else f"Priority changed{by}"
        case "incident.annotated":
            text = f"Note{by}: {_str(detail.get('content'))}"
        case "incident.responder.added":
            text = f"{_ref_name(detail.get('user'))} asked to respond{by}" + _message(detail)
        case "incident.responder.replied":
            text = f"{_ref_name(detail.get('user'))} {_reply(detail.get('state'))} the request to respond"
        case "incident.status_update_published":
            text = f"Status update{by}: {_str(detail.get('message'))}"
        case _:
            text = f"{kind.replace('_', ' ').replace('.', ' ').capitalize()}{by}"
    return TimelineEntry(id=event.id, incident_id=event.incident_id, occurred_at=event.occurred_at, kind=kind,
                         actor=who if event.agent_is_person else None, text=text)


def _names(people: tuple[Any, ...]) -> str:
    return ", ".join(p.name for p in people)


def _str(value: Any) -> str:
    return str(value) if value else "(empty)"


def _ref_name(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("summary") or ref.get("id") or "someone")
    return "someone"


def _message(detail: dict[str, Any]) -> str:
    return f": {detail['message']}" if detail.get("message") else ""


def _reply(state: Any) -> str:
    return {"joined": "accepted", "declined": "declined"}.get(str(state), "answered")
