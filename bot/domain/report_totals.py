"""A report's rows from aggregates rather than from every incident: `ReportTallies` takes what the store reads per
cell (a service, a UTC month, a segment of time — see ReportQuery): how many incidents, and every time to
acknowledge and to restore among them. It places each cell once (its service's team, domain, exposure band and
operating model: once per service, not per incident), adds the cells up per group, and sorts each group's durations
once, in C (`sorted`), for its nearest-rank p50 and p90; a cell's incidents with a loss are those restored later
than the first duration past its band's window (`first_loss_us`), counted without a Python step per incident.

The figures are those of reports.py (whose docstring defines them) over the same incidents: counts and totals add
up per group, a mean is the group's total ÷ its count, a percentile is the k-th smallest duration (k = ⌈p/100 x n⌉),
and a loss uses the band's window as there. Durations arrive in whole microseconds, as `timedelta` holds them.
Pure: standard library only.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

from bot.domain.reports import (
    GROUPINGS,
    NO_DOMAIN,
    NO_TEAM,
    OPERATIONS,
    PRODUCT_TEAMS,
    GroupBy,
    ReportRow,
    Scale,
    Summary,
    TrendPoint,
    cadence,
)

# A cell: (PagerDuty service id, its name when the catalogue does not list it, UTC month "2021-03", segment).
Cell = tuple[str, str | None, str, int]
MICROS = 10**6
PERCENTILES = (50, 90)


@dataclass(frozen=True)
class IncidentCell:
    """The incidents of one cell as the store reads them: how many, and every time to acknowledge and every time to
    restore among them (whole microseconds, in any order; an incident not yet acknowledged or restored has none)."""

    key: Cell
    incidents: int
    tta_us: Sequence[int]
    ttr_us: Sequence[int]


@dataclass(frozen=True)
class CellPlace:
    """Where a cell's incidents stand in the catalogue, and when (worked out once per cell)."""

    service: str
    team: str | None
    domain: str | None
    exposure: float | None        # the service's maximum financial exposure; None: undeclared
    window_minutes: float | None  # its exposure band's window
    model: str                    # the operating model running it at that time
    rota: str | None              # who covers it out of hours
    year: int
    before_teams_from: bool       # triggered before teams ran their own services (the period grouping's cut)


def first_loss_us(window_minutes: float) -> int:
    """The shortest time to restore, in whole microseconds, that counts as a loss for a band of this window (> 0):
    the least `us` with `us / MICROS / 60.0 / window_minutes > 1.0`, IncidentFacts.with_loss's test, evaluated
    exactly so. Each step of that test is a correctly rounded division by a positive number, so it never decreases
    as `us` grows: a binary search over the integers finds where it turns true, and every duration at or past it is
    a loss."""
    def lost(us: int) -> bool:
        return us / MICROS / 60.0 / window_minutes > 1.0

    low, high = 0, 2**63  # lost(low) is False; past `high`, no duration the stores hold (64-bit integers)
    if not lost(high):
        return high + 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if lost(middle) else (middle, high)
    return high


def _rank(p: int, count: int) -> int:
    """The nearest rank of percentile p among `count` durations (reports.percentile's k)."""
    return max(1, math.ceil(p / 100.0 * count))


@dataclass(slots=True)
class _Durations:
    count: int = 0
    total_us: int = 0
    # The durations, a cell's at a time, as C doubles (8 bytes each, where a list of ints takes about 36): a whole
    # number of microseconds below 2**53 (285 years) is a double exactly, in the same order.
    parts: list[array[float]] = field(default_factory=list)

    def add(self, durations: array[float], total_us: int) -> None:
        if durations:
            self.count += len(durations)
            self.total_us += total_us
            self.parts.append(durations)

    def mean(self) -> float | None:
        return self.total_us / MICROS / self.count if self.count else None

    def summary(self) -> Summary:
        if not self.count:
            return Summary(0, None, None, None)
        # One sort of the group's durations, in C, as floats: they compare several times faster than integers that
        # need more than 30 bits (over 18 minutes).
        ordered = sorted(chain.from_iterable(self.parts))
        p50, p90 = (ordered[_rank(p, self.count) - 1] / MICROS for p in PERCENTILES)
        return Summary(self.count, self.mean(), p50, p90)


@dataclass
class _Group:
    incidents: int = 0
    deploys: int = 0
    tta: _Durations = field(default_factory=_Durations)
    ttr: _Durations = field(default_factory=_Durations)
    expected: float = 0.0
    realised: float = 0.0
    with_loss: int = 0
    places: set[CellPlace] = field(default_factory=set)


def group_key(by: GroupBy, place: CellPlace) -> Hashable:
    """The group a cell falls in (as reports.group_of, from the cell's place)."""
    if by == "model":
        return place.model, place.year
    if by == "service":
        return place.service
    if by == "team":
        return place.team or NO_TEAM
    if by == "domain":
        return place.domain or NO_DOMAIN
    if by == "period" and place.before_teams_from:
        return OPERATIONS
    return str(place.year)


class ReportTallies:
    """Rows for several groupings at once from one read of the store (a ReportTally for the IncidentHistory port):
    `cells(...)` first, then `rows(by)` and `trend()`."""

    def __init__(self, groupings: Sequence[GroupBy], place: Callable[[Cell], CellPlace]) -> None:
        for by in groupings:
            if by not in GROUPINGS:
                raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
        self._groupings = tuple(dict.fromkeys(groupings))
        self._place = place
        self._groups: dict[GroupBy, dict[Hashable, _Group]] = {by: {} for by in self._groupings}
        # Per cell: its place and its group in each grouping (looked up once).
        self._cells: dict[Cell, tuple[CellPlace, tuple[_Group, ...]]] = {}
        self._months: dict[str, tuple[_Durations, _Durations]] = {}
        self._first_loss: dict[float, int] = {}  # band window → first_loss_us

    def _cell(self, key: Cell) -> tuple[CellPlace, tuple[_Group, ...]]:
        known = self._cells.get(key)
        if known is None:
            place = self._place(key)
            known = place, tuple(self._groups[by].setdefault(group_key(by, place), _Group())
                                 for by in self._groupings)
            self._cells[key] = known
            for group in known[1]:
                group.places.add(place)
        return known

    def cells(self, incidents: Iterable[IncidentCell], deploys: Sequence[tuple[Cell, int]]) -> None:
        """Every cell's incidents (taken one at a time: a store may hand them as it reads them) and deploys."""
        for cell in incidents:
            place, groups = self._cell(cell.key)
            tta, ttr = cell.tta_us, cell.ttr_us
            tta_total_us, ttr_total_us = sum(tta), sum(ttr)
            # As IncidentFacts.with_loss: restored after its band's window, on a service with an exposure.
            window = place.window_minutes if place.exposure else None
            with_loss = 0
            if window and ttr:
                first = self._first_loss.get(window)
                if first is None:
                    first = self._first_loss[window] = first_loss_us(window)
                with_loss = sum(map(first.__le__, ttr))  # in C: a bool per duration, summed
            # Kept (shared by the cell's groups) only as doubles, for the percentiles; counts, totals and losses
            # are taken above from the exact integers.
            tta_kept, ttr_kept = array("d", tta), array("d", ttr)
            for group in groups:
                group.incidents += cell.incidents
                group.tta.add(tta_kept, tta_total_us)
                group.ttr.add(ttr_kept, ttr_total_us)
                group.with_loss += with_loss
                if place.exposure is not None and place.window_minutes:
                    group.expected += place.exposure * len(ttr)
                    group.realised += place.exposure * (ttr_total_us / MICROS / 60.0 / place.window_minutes)
            month = self._months.setdefault(cell.key[2], (_Durations(), _Durations()))
            month[0].count += len(tta)
            month[0].total_us += tta_total_us
            month[1].count += len(ttr)
            month[1].total_us += ttr_total_us
        for key, count in deploys:
            for group in self._cell(key)[1]:
                group.deploys += count

    def rows(self, by: GroupBy) -> list[ReportRow]:
        """One row per group with incidents or deploys, in the order reports.build_report gives them."""
        groups = self._groups[by]
        if by == "model":
            keys = sorted(groups, key=lambda k: (k[0] != PRODUCT_TEAMS, k[0] == OPERATIONS, k))  # type: ignore
        else:
            keys = sorted(groups, key=lambda k: (k != OPERATIONS, k))
        return [self._row(by, key, groups[key]) for key in keys]

    def _row(self, by: GroupBy, key: Hashable, group: _Group) -> ReportRow:
        ratio = (1.0 - group.realised / group.expected) if group.expected > 0 else None
        scale = None
        label = str(key)
        if by == "model":
            assert isinstance(key, tuple)
            model, year = str(key[0]), int(key[1])
            label = f"{model} {year}"
            services = {p.service for p in group.places}
            scale = Scale(model, year, len(services), len({p.team for p in group.places if p.team}),
                          len({p.rota for p in group.places if p.rota}), cadence(group.deploys, len(services), year))
        return ReportRow(group=label, deploys=group.deploys, incidents=group.incidents, tta=group.tta.summary(),
                         ttr=group.ttr.summary(), incidents_with_loss=group.with_loss,
                         expected_loss=group.expected, realised_loss=group.realised, effectiveness=ratio,
                         scale=scale)

    def trend(self) -> list[TrendPoint]:
        """MTTA/MTTR per UTC month with incidents, in time order (reports.monthly_trend)."""
        return [TrendPoint(month, tta.mean(), ttr.mean())
                for month, (tta, ttr) in sorted(self._months.items())]
