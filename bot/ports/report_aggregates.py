"""What a report asks the store to aggregate (`ReportQuery`), what takes the aggregates (`ReportTally`), and the
port method that does it (`ReportAggregates`, part of the IncidentHistory port in bot/ports/incident_history.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.report_totals import Cell, IncidentCell


@dataclass(frozen=True)
class ReportQuery:
    """What a report asks the store to aggregate: incidents triggered (and deploys made) in [start, end), in cells
    of one service, one UTC month and one segment — how many of `cuts` (sorted times, e.g. when teams took over) the
    time is at or after. Incidents of services not in `listed` (PagerDuty service ids the catalogue knows) also carry
    their service's name, so an unlisted service still reads by name."""

    start: datetime | None = None
    end: datetime | None = None
    cuts: tuple[datetime, ...] = ()
    listed: frozenset[str] = frozenset()


class ReportTally(Protocol):
    """Takes a report's aggregates as the store reads them, from one snapshot: every cell with its incidents' times
    to acknowledge and to restore (possibly as they are read: an iterable taken once), and the deploys per cell.
    Called on a worker thread, never on the event loop (a tally over years of incidents takes a while): it must not
    touch the loop or anything of it."""

    def cells(self, incidents: Iterable[IncidentCell], deploys: Sequence[tuple[Cell, int]]) -> None: ...


class HistoryError(Exception):
    """The history cannot be read (no such database, not a Paved Road database); the message says what to do. Here,
    not in bot.ports.store, so that `pavedroad report` can raise and catch it without loading every store port."""


class ReportAggregates(Protocol):
    async def report_aggregates(self, query: ReportQuery, tally: ReportTally) -> None:
        """Aggregate the history for a report in the store (per cell: how many incidents and their durations; deploys
        per cell) and hand it to `tally`, all from one snapshot. Raises HistoryError when there is no history to
        read."""
        ...
