"""The account's incidents, log entries and notes, indexed by what the REST API and the model look them up by, so a
call costs the same with ten incidents as with ten thousand (a long sandbox session or soak keeps every incident).

`IncidentBook` is a dict of incidents by id (what `Account.incidents` always was) that also keeps them by number
(GET /incidents/{id} takes either), by (service, incident_key) for de-duplication, and the newest trigger time per
service. `PerIncident` is a list (what `Account.log_entries` and `Account.notes` always were) that also keeps its
items by incident. An incident's number, service and key are fixed once it is in the book; the `Account` wraps
whatever is assigned to these attributes (admin.py replaces them when a service is deleted), so the indexes stay
whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sandbox.index import IndexedList


class _Incident(Protocol):
    """What the book indexes an incident (model.py's) by: fixed once it is in the book."""

    @property
    def number(self) -> int: ...
    @property
    def service_id(self) -> str: ...
    @property
    def incident_key(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


Incident = TypeVar("Incident", bound=_Incident)


class IncidentBook(dict[str, Incident]):
    def __init__(self, incidents: Mapping[str, Incident] | Iterable[tuple[str, Incident]] = ()) -> None:
        super().__init__()
        self._by_number: dict[int, str] = {}
        # Insertion-ordered sets of ids (dicts of None).
        self._by_key: dict[str, dict[str, None]] = {}
        self._by_service: dict[str, dict[str, None]] = {}
        self._last_created: dict[str, datetime] = {}
        self._service_stale: set[str] = set()
        self.update(incidents)

    def __setitem__(self, incident_id: str, incident: Incident) -> None:
        if incident_id in self:
            self._forget(incident_id)
        super().__setitem__(incident_id, incident)
        self._by_number[incident.number] = incident_id
        self._by_key.setdefault(incident.incident_key, {})[incident_id] = None
        self._by_service.setdefault(incident.service_id, {})[incident_id] = None
        last = self._last_created.get(incident.service_id)
        if incident.service_id not in self._service_stale and (last is None or incident.created_at > last):
            self._last_created[incident.service_id] = incident.created_at

    def __delitem__(self, incident_id: str) -> None:
        self._forget(incident_id)
        super().__delitem__(incident_id)

    def pop(self, incident_id: str, *default: Any) -> Any:
        if incident_id in self:
            self._forget(incident_id)
        return super().pop(incident_id, *default)

    def update(self, *others: Any, **named: Any) -> None:
        for other in (*others, named):
            for incident_id, incident in (other.items() if isinstance(other, Mapping) else other):
                self[incident_id] = incident

    def clear(self) -> None:
        super().clear()
        self._by_number.clear()
        self._by_key.clear()
        self._by_service.clear()
        self._last_created.clear()
        self._service_stale.clear()

    def numbered(self, number: int) -> Incident | None:
        return self.get(self._by_number.get(number, ""))

    def keyed(self, service_id: str, incident_key: str) -> list[Incident]:
        """The incidents of `service_id` with this incident_key, oldest first (usually one, or none)."""
        return [i for i in self.with_key(incident_key) if i.service_id == service_id]

    def with_key(self, incident_key: str) -> list[Incident]:
        """Every incident with this incident_key, on any service, in the book's order."""
        return [self[i] for i in self._by_key.get(incident_key, ())]

    def last_created(self, service_id: str) -> datetime | None:
        """When the service's newest incident was triggered (recomputed only after one of its incidents went)."""
        if service_id in self._service_stale:
            self._service_stale.discard(service_id)
            times = [self[i].created_at for i in self._by_service.get(service_id, ())]
            self._last_created.pop(service_id, None)
            if times:
                self._last_created[service_id] = max(times)
        return self._last_created.get(service_id)

    def _forget(self, incident_id: str) -> None:
        old = self[incident_id]
        if self._by_number.get(old.number) == incident_id:
            del self._by_number[old.number]
        for index, key in ((self._by_key, old.incident_key), (self._by_service, old.service_id)):
            ids = index.get(key, {})
            ids.pop(incident_id, None)
            if not ids:
                index.pop(key, None)
        self._service_stale.add(old.service_id)


class _OfIncident(Protocol):
    @property
    def incident_id(self) -> str: ...


T = TypeVar("T", bound=_OfIncident)


class PerIncident(IndexedList[T]):
    """A list that also keeps its items by `incident_id` (sandbox/index.py keeps the index whole)."""

    def of(self, incident_id: str) -> list[T]:
        """The items about one incident, in the order they were added."""
        return list(self._by_incident.get(incident_id, ()))

    def _note(self, item: T) -> None:
        self._by_incident.setdefault(item.incident_id, []).append(item)

    def _forget_all(self) -> None:
        self._by_incident: dict[str, list[T]] = {}
