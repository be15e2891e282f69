"""Timeline entries: one readable line per incident event — who did what, when."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.events import IncidentEvent

# How a resolve that is a merge begins ("Merged into <id> (<title>, <link>) by …"), and the id of the incident it went
# into, read right after it: what the ticket's close notes name (ticket_closing.py).
MERGED_INTO = "Merged into "
# PagerDuty's ids begin with a capital letter, then capitals and digits (PT4KHLK, Q1ABC23DEF4GHI; PEYSGVF in its API
# reference has no digit): the shape a ticket's correlation id is taken for one by (ticket_rules.py) too.
PAGERDUTY_ID = re.compile(r"[A-Z][A-Z0-9]{5,19}")
_MERGED_ID = re.compile(re.escape(MERGED_INTO) + f"({PAGERDUTY_ID.pattern})\\b")
# How a resolution note begins: `/incident resolve <note>` adds it to PagerDuty as a note "Resolution: <note>", and a
# responder may add one in PagerDuty directly. The incident's resolution is the latest such PagerDuty note.
RESOLUTION = "Resolution: "
NOTE_KIND = "annotated"  # the timeline kind of a PagerDuty note (incident.annotated)
_NOTE_LINE = re.compile(r"Note(?: by .*?)?: ", re.DOTALL)


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
            merged = _merged_into(detail.get("resolve_reason"))
            text = (f"{MERGED_INTO}{merged}{by}: resolved here, the incident goes on there" if merged
                    else f"Resolved{by}")
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
            text = f"Priority set to {snapshot.priority or 'none'}{by}" if snapshot and \
                "priority" not in snapshot.absent else f"Priority changed{by}"
        case "incident.service_updated":
            text = f"Moved to {snapshot.service_name}{by}" if snapshot and snapshot.service_name else \
                f"Service changed{by}"
        case "incident.annotated":
            text = f"Note{by}: {_str(detail.get('content'))}{_trimmed(detail, 'note')}"
        case "incident.conference_bridge.updated":
            text = f"Conference bridge{by}: {_bridge(detail)}"
        case "incident.role.assigned":
            text = f"{_roles(detail.get('incident_role_assignments'))}{by}"
        case "incident.responder.added":
            text = f"{_ref_name(detail.get('user'))} asked to respond{by}" + _message(detail)
        case "incident.responder.replied":
            text = f"{_ref_name(detail.get('user'))} {_reply(detail.get('state'))} the request to respond"
        case "incident.status_update_published":
            text = f"Status update{by}: {_str(detail.get('message'))}{_trimmed(detail, 'update')}"
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


def _trimmed(detail: dict[str, Any], what: str) -> str:
    """PagerDuty sends a long note's (status update's) text cut, saying so with `trimmed`: the line says so too."""
    return f" … [cut by PagerDuty: the whole {what} is in PagerDuty]" if detail.get("trimmed") is True else ""


def _merged_into(reason: Any) -> str:
    """A resolve that is a merge (`resolve_reason`): the incident it goes on in — its PagerDuty id first, where
    nothing outside can stand (`merged_into_id` reads it there), then its title and link; "" if no merge."""
    if not isinstance(reason, dict) or reason.get("type") != "merge_resolve_reason":
        return ""
    into: dict[str, Any] = reason["incident"] if isinstance(reason.get("incident"), dict) else {}
    into_id, url, title = into.get("id"), into.get("html_url"), into.get("summary")
    named = into_id if isinstance(into_id, str) and PAGERDUTY_ID.fullmatch(into_id) else "another incident"
    about = [str(title)] if title else []
    about += [url] if isinstance(url, str) and url else []
    return named + (f" ({', '.join(about)})" if about else "")


def resolution(timeline: list[TimelineEntry]) -> str | None:
    """The incident's resolution: the latest PagerDuty note whose words begin "Resolution: ". Never another line
    holding those words — a desk agent's work note on the ticket, a status update, a Slack message kept as key —
    (found in review: a desk's "Resolution: caller rebooted the router" became the ticket's close notes)."""
    return next((said for e in reversed(timeline) if (said := resolution_in(e)) is not None), None)


def resolution_in(entry: TimelineEntry) -> str | None:
    """The resolution a line gives, if it is a PagerDuty resolution note: its words after "Resolution: "."""
    if entry.kind != NOTE_KIND:
        return None
    # "Note by <who>: <content>": the content begins after the name the line was written with (the actor's, a
    # person's) — else after the first ": " (a name PagerDuty gives a service or an integration).
    opening = f"Note by {entry.actor}: " if entry.actor and entry.text.startswith(f"Note by {entry.actor}: ") else None
    if opening is None:
        found = _NOTE_LINE.match(entry.text)
        opening = found[0] if found else None
    content = entry.text[len(opening):] if opening is not None else ""
    return content[len(RESOLUTION):] if content.startswith(RESOLUTION) else None


def merged_into_id(text: str) -> str | None:
    """The id of the incident a merge line (`MERGED_INTO`) says it went into: the id right after its opening words,
    which only PagerDuty's `resolve_reason` puts there (found in review: read from the link at the line's end, a title
    or an agent's name holding `/incidents/<id>)` named another incident, whose ticket got the merge note)."""
    found = _MERGED_ID.match(text)
    return found[1] if found else None


def _bridge(detail: dict[str, Any]) -> str:
    numbers = detail.get("conference_numbers")
    dial = [str(n.get("number")) for n in numbers if isinstance(n, dict) and n.get("number")] \
        if isinstance(numbers, list) else []
    parts = [str(detail["conference_url"])] if detail.get("conference_url") else []
    parts += [f"dial {', '.join(dial)}"] if dial else []
    return " · ".join(parts) or "removed"


def _roles(assignments: Any) -> str:
    given = [f"{_ref_name(a.get('assignee')) if a.get('assignee') else 'nobody'} is "
             f"{_ref_name(a.get('role'))}" for a in assignments if isinstance(a, dict)] \
        if isinstance(assignments, list) else []
    return "Role assigned: " + ("; ".join(given) or "(none named)")
