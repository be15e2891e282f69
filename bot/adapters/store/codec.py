"""JSON encoding of domain objects for the store (datetimes as ISO 8601, tuples as lists), and the incident's
indexed columns (`incident_columns`) that both stores keep beside its JSON.

Every decision the worker applies writes its incident, so encoding is on the hot path: the incident is turned into
plain values by a walk over its dataclass fields (names cached per class), not by `dataclasses.asdict`, which deep-
copies every leaf first; the text written is the same."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

# Re-exported: how a time is written into the indexed columns (its own light module for the report's SQL).
from bot.adapters.store.utc_text import utc_iso as utc_iso
from bot.domain.coordination import RoleHolder, update_from_dict
from bot.domain.events import Person
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Incident, Status

_TIMES = ("triggered_at", "acknowledged_at", "resolved_at", "state_as_of")


def incident_to_json(incident: Incident) -> str:
    plain = _plain_fields(incident)  # datetimes as ISO 8601, nested ones too
    del plain["newer_fields"]
    if incident.newer_fields:  # a newer version's, written back as read (see Incident.newer_fields)
        plain.update(incident.newer_fields)
    return json.dumps(plain)


# The indexed columns of table `incidents`, in the order `incident_columns` gives them.
INDEXED_COLUMNS = ("service_id", "urgency", "triggered_at", "acknowledged_at", "resolved_at")


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


class DecodedIncidents:
    """The incidents of one recurring read (the open incidents, read for every App Home published), decoded once per
    stored text: the last read's incidents are kept by their JSON, and an unchanged row is not decoded again. Holds
    only what the last read returned; incidents are frozen, so handing the same one out twice is safe."""

    def __init__(self) -> None:
        self._last: dict[str, Incident] = {}

    def decode(self, texts: Iterable[str]) -> list[Incident]:
        last = self._last
        decoded = {text: last.get(text) or incident_from_json(text) for text in texts}
        self._last = decoded
        return list(decoded.values())


def incident_from_json(text: str) -> Incident:
    data: dict[str, Any] = json.loads(text)
    newer = data.keys() - _INCIDENT_FIELDS
    if newer:  # saved by a newer version: kept aside, and written back with the incident
        data["newer_fields"] = tuple((name, data.pop(name)) for name in sorted(newer))
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
    data["responders"] = tuple(data.get("responders") or ())
    data["urgency_raised_at"] = datetime.fromisoformat(raised) if (raised := data.get("urgency_raised_at")) else None
    data["responders_heard_at"] = tuple((str(user), datetime.fromisoformat(at))
                                        for user, at in data.get("responders_heard_at") or ())
    return Incident(**data)


# What this version's incident holds; any other name in a stored incident is a newer version's (Incident.newer_fields).
_INCIDENT_FIELDS = frozenset(f.name for f in fields(Incident)) - {"newer_fields"}
# Per dataclass: its field names, and a getter of all their values at once (one C call, not a getattr per field).
_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[object], tuple[Any, ...]]]] = {}
# Values written as they are: looked up by exact type, cheaper than isinstance's chain for the fields most values are.
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _plain_fields(record: object) -> dict[str, Any]:
    """A dataclass instance as a dict of plain values, in field order (what `asdict` gives, without its copies)."""
    known = _FIELDS.get(type(record))
    if known is None:
        names = tuple(f.name for f in fields(record))  # type: ignore[arg-type]
        getter = attrgetter(*names)
        known = _FIELDS[type(record)] = (
            names, (lambda value: (getter(value),)) if len(names) == 1 else getter)  # one name: not a tuple
    names, values = known
    return dict(zip(names, [value if type(value) in _AS_IS else _plain(value) for value in values(record)],
                    strict=True))


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is datetime:  # here rather than in json.dumps' `default`, a call back into Python each
        return value.isoformat()
    if kind is tuple:
        return [_plain(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    return value
