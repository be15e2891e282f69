"""JSON encoding of domain objects for the store (datetimes as ISO 8601, tuples as lists), and the incident's
indexed columns (`incident_columns`) that both stores keep beside its JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.coordination import RoleHolder, update_from_dict
from bot.domain.events import Person
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Incident, Status

_TIMES = ("triggered_at", "acknowledged_at", "resolved_at", "state_as_of")


def incident_to_json(incident: Incident) -> str:
    data = asdict(incident)
    for key in _TIMES:
        data[key] = data[key].isoformat() if data[key] else None
    return json.dumps(data, default=_iso)  # the follow-ups' and status updates' times too


# The indexed columns of table `incidents`, in the order `incident_columns` gives them.
INDEXED_COLUMNS = ("service_id", "urgency", "triggered_at", "acknowledged_at", "resolved_at")


def utc_iso(when: datetime | None) -> str | None:
    """A time as the indexed columns hold it: ISO 8601 in UTC, always `+00:00`, so that text order is time order
    (the JSON keeps each time's own offset). A naive time is taken as UTC."""
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def incident_columns(incident: Incident) -> tuple[str, str, str | None, str | None, str | None]:
    """The incident's indexed columns (INDEXED_COLUMNS), written with every write of its row."""
    return (incident.service_id, incident.urgency, utc_iso(incident.triggered_at),
            utc_iso(incident.acknowledged_at), utc_iso(incident.resolved_at))


def report_columns(incident: Incident) -> tuple[int | None, int | None]:
    """The incident's time to acknowledge and time to restore in whole microseconds (None until it is acknowledged
    or resolved): what the reports add up and order (migration 15), kept beside the indexed columns."""
    triggered = _aware(incident.triggered_at)
    return tuple(  # type: ignore[return-value]
        None if when is None else (_aware(when) - triggered) // _MICROSECOND
        for when in (incident.acknowledged_at, incident.resolved_at))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_MICROSECOND = timedelta(microseconds=1)


def incident_from_json(text: str) -> Incident:
    data: dict[str, Any] = json.loads(text)
    for key in _TIMES:
        data[key] = datetime.fromisoformat(data[key]) if data[key] else None
    data["status"] = Status(data["status"])
    data["assignees"] = tuple(Person(**p) for p in data["assignees"])
    data["follow_ups"] = tuple(FollowUp(**{**f, "added_at": datetime.fromisoformat(f["added_at"])})
                               for f in data.get("follow_ups") or ())
    data.setdefault("channel_requested", data["status"] is not Status.RESOLVED)
    data["roles"] = tuple(RoleHolder(**r) for r in data.get("roles") or ())
    data["status_updates"] = tuple(update_from_dict(u) for u in data.get("status_updates") or ())
    data["command_offered_to"] = tuple(data.get("command_offered_to") or ())
    return Incident(**data)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
