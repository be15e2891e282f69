"""Incidents the SQLite store's thread decoded or wrote lately, by id with their stored JSON.

An incident is read many times between two changes — by each delivery applied to it, each Slack effect performed
for it — and decoding its JSON is most of what such a read costs. A row read again unchanged (the same text) is
handed out as the incident already decoded: incidents are frozen, so sharing one is safe, and the row is still read
every time, so a change by anyone (another replica included) is always seen. Used on the store's thread only.
"""

from __future__ import annotations

from bot.adapters.store.codec import incident_from_json
from bot.domain.incident import Incident

# Enough for every open incident of a storm; the oldest is forgotten first.
LIMIT = 1024


class KnownIncidents:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._by_id: dict[str, tuple[str, Incident]] = {}

    def decode(self, incident_id: str, text: str) -> Incident:
        """The incident stored as `text`, decoded unless it is the text last seen for this id."""
        known = self._by_id.get(incident_id)
        if known is not None and known[0] == text:
            return known[1]
        incident = incident_from_json(text)
        self.remember(incident_id, text, incident)
        return incident

    def remember(self, incident_id: str, text: str, incident: Incident) -> None:
        """`incident` is what `text` decodes to (it was just encoded from it)."""
        self._by_id.pop(incident_id, None)
        self._by_id[incident_id] = (text, incident)
        if len(self._by_id) > self._limit:
            del self._by_id[next(iter(self._by_id))]
