"""JSON encoding of domain objects for the store (datetimes as ISO 8601, tuples as lists)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
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
