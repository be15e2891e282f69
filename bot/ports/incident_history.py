"""The store's history port: the incidents and deploys the reports are computed from (`IncidentHistory`, with the
aggregates of bot/ports/report_aggregates.py), and the records it speaks (`History`, `DeployRecord`).

A store port like those of bot/ports/store.py (`Store` includes it), kept in a module of its own so that one stays
one page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.incident import Incident
from bot.ports.report_aggregates import ReportAggregates


@dataclass(frozen=True)
class DeployRecord:
    """One deploy as stored: a change event on a PagerDuty service."""

    id: str
    service_id: str
    occurred_at: datetime
    summary: str = ""
    source: str = "pagerduty"


@dataclass(frozen=True)
class History:
    """What the reports are computed from: incidents and deploys."""

    incidents: tuple[Incident, ...]
    deploys: tuple[DeployRecord, ...]


class IncidentHistory(ReportAggregates, Protocol):
    """The incidents and deploys the reports are computed from."""

    async def report_history(self, start: datetime | None = None, end: datetime | None = None) -> History:
        """Incidents triggered (by number), and deploys made (in time order), in [start, end); either bound may be
        open. Raises HistoryError when there is no history to read."""
        ...
    async def add_history(self, incidents: Sequence[Incident], deploys: Sequence[DeployRecord],
                          now: float) -> tuple[int, int]:
        """Backfill past incidents and deploys (ones already stored, by id, are kept as they are); returns how many
        of each were added."""
        ...
