"""A report's rows from aggregates rather than from every incident: `ReportTallies` takes what the store adds up per
cell (a service, a UTC month, a segment of time — see ReportQuery), places each cell once (its service's team,
domain, exposure band and operating model: once per service, not per incident), and reads the durations the store
streams in ascending order only to find each group's nearest-rank p50 and p90 and its incidents with a loss.

The figures are those of reports.py (whose docstring defines them) over the same incidents: counts and totals add
up per group, a mean is the group's total ÷ its count, a percentile is the k-th smallest duration (k = ⌈p/100 x n⌉),
and a loss uses the band's window as there. Durations arrive in whole microseconds, as `timedelta` holds them.
Pure: standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

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
    """The incidents of one cell as the store adds them up: how many, and the count and total (whole microseconds)
    of their times to acknowledge and to restore."""

    key: Cell
    incidents: int
    tta_count: int
    tta_total_us: int
    ttr_count: int
    ttr_total_us: int


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


@dataclass(slots=True)  # slots: counted once per duration read
class _Durations:
    count: int = 0
    total_us: int = 0
    seen: int = 0
    ranks: dict[int, tuple[int, ...]] = field(default_factory=dict)  # rank k → the percentiles found there
    found: dict[int, float] = field(default_factory=dict)  # percentile p → seconds

    def summary(self) -> Summary:
        if not self.count:
            return Summary(0, None, None, None)
        return Summary(self.count, self.total_us / MICROS / self.count, self.found.get(50), self.found.get(90))


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


# Per cell, for one measure: the band window a loss is judged by (0: none), its tallies and its groups.
_Targets = dict[Cell, tuple[float, tuple[_Durations, ...], tuple[_Group, ...]]]


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
    `cells(...)` first, then `durations(...)` in ascending order, then `rows(by)` and `trend()`."""

    def __init__(self, groupings: Sequence[GroupBy], place: Callable[[Cell], CellPlace]) -> None:
        for by in groupings:
            if by not in GROUPINGS:
                raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
        self._groupings = tuple(dict.fromkeys(groupings))
        self._place = place
        self._groups: dict[GroupBy, dict[Hashable, _Group]] = {by: {} for by in self._groupings}
        # Per cell: its place and its group in each grouping (looked up once, used for every duration).
        self._cells: dict[Cell, tuple[CellPlace, tuple[_Group, ...]]] = {}
        self._months: dict[str, tuple[_Durations, _Durations]] = {}
        self._tta_targets: _Targets = {}
        self._ttr_targets: _Targets = {}

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

    def cells(self, incidents: Sequence[IncidentCell], deploys: Sequence[tuple[Cell, int]]) -> None:
        for cell in incidents:
            key = cell.key
            place, groups = self._cell(key)
            count, tta_n, tta_us, ttr_n, ttr_us = (cell.incidents, cell.tta_count, cell.tta_total_us,
                                                   cell.ttr_count, cell.ttr_total_us)
            for group in groups:
                group.incidents += count
                group.tta.count += tta_n
                group.tta.total_us += tta_us
                group.ttr.count += ttr_n
                group.ttr.total_us += ttr_us
                if place.exposure is not None and place.window_minutes:
                    group.expected += place.exposure * ttr_n
                    group.realised += place.exposure * (ttr_us / MICROS / 60.0 / place.window_minutes)
            month = self._months.setdefault(key[2], (_Durations(), _Durations()))
            month[0].count += tta_n
            month[0].total_us += tta_us
            month[1].count += ttr_n
            month[1].total_us += ttr_us
        for key, count in deploys:
            for group in self._cell(key)[1]:
                group.deploys += count
        for grouped in self._groups.values():
            for group in grouped.values():
                for durations in (group.tta, group.ttr):
                    durations.ranks = {}
                    for p in PERCENTILES:
                        rank = max(1, math.ceil(p / 100.0 * durations.count))
                        durations.ranks[rank] = (*durations.ranks.get(rank, ()), p)
        self._tta_targets = {key: (0.0, tuple(g.tta for g in groups), groups)
                             for key, (_, groups) in self._cells.items()}
        self._ttr_targets = {key: ((place.window_minutes or 0.0) if place.exposure else 0.0,
                                   tuple(g.ttr for g in groups), groups)
                             for key, (place, groups) in self._cells.items()}

    def durations(self, measure: str, rows: Sequence[tuple[str, str | None, str, int, int]]) -> None:
        restore = measure == "ttr"
        # Per cell, looked up once per batch's rows: the window a loss is judged by (0: no loss counts: no exposure
        # or band, or not restore times) and the tallies the duration counts in, one per grouping.
        targets = self._ttr_targets if restore else self._tta_targets
        # Per row only what every row needs (a lookup and a count); seconds are worked out only where a rank falls
        # or a loss may count.
        for row in rows:
            window, tallies, groups = targets[row[:4]]
            for durations in tallies:
                seen = durations.seen = durations.seen + 1
                if seen in durations.ranks:
                    for p in durations.ranks[seen]:
                        durations.found[p] = row[4] / MICROS
            # As IncidentFacts.with_loss: restored after its band's window, on a service with an exposure.
            if window and row[4] / MICROS / 60.0 / window > 1.0:
                for group in groups:
                    group.with_loss += 1

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
        return [TrendPoint(month, tta.summary().mean, ttr.summary().mean)
                for month, (tta, ttr) in sorted(self._months.items())]
