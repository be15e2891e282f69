"""JSON encoding of domain objects for the store (datetimes as ISO 8601, tuples as lists)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from bot.domain.events import Person
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Incident, Status

_TIMES = ("triggered_at", "acknowledged_at", "resolved_at", "state_as_of")


def incident_to_json(incident: Incident) -> str:
    data = asdict(incident)
    for key in _TIMES:
        data[key] = data[key].isoformat() if data[key] else None
    for follow_up in data["follow_ups"]:
        follow_up["added_at"] = follow_up["added_at"].isoformat()
    return json.dumps(data)


def incident_from_json(text: str) -> Incident:
    data: dict[str, Any] = json.loads(text)
    for key in _TIMES:
        data[key] = datetime.fromisoformat(data[key]) if data[key] else None
    data["status"] = Status(data["status"])
    data["assignees"] = tuple(Person(**p) for p in data["assignees"])
    data["follow_ups"] = tuple(FollowUp(**{**f, "added_at": datetime.fromisoformat(f["added_at"])})
                               for f in data.get("follow_ups") or ())
    data.setdefault("channel_requested", data["status"] is not Status.RESOLVED)
    return Incident(**data)
