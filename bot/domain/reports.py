"""Incident figures: time to acknowledge and to restore, financial loss and revenue protection effectiveness.

Definitions (the README's "Reports" section says the same, for people):

- Time to acknowledge (TTA) = first acknowledgement - trigger; time to restore (TTR) = resolve - trigger. An incident
  never acknowledged has no TTA; one not resolved has no TTR and no loss yet (it counts in `incidents` only).
- Mean, p50 and p90 of a group's TTAs/TTRs. Percentiles are *nearest rank*: the k-th smallest of n values with
  k = ⌈p/100 x n⌉, so every percentile is a time some incident really took.
- Per incident of a service with a declared financial exposure (amount A within window T) that fell in an exposure
  band with time window W: expected loss = A; realised loss = A x TTR ÷ W (not capped: restoring in 2.7 windows
  realises 2.7 x A). Incidents of services without a declared exposure carry no loss figures.
- An incident *with a financial loss* is one restored after its band's window (TTR > W): revenue the band's targets
  exist to protect was lost. Restored within the window, revenue counts as protected.
- Revenue protection effectiveness of a group = 1 - Σ realised ÷ Σ expected: 100% when everything is restored
  instantly, 0% when on average it takes exactly one window, -170% at 2.7 windows. None when nothing is expected.
- Deploys: change events (e.g. PagerDuty change events), counted per group like incidents.

Groups: by service, team, domain, year, or period — period is year, except that everything before the date teams
began running their own services (`teams_from`) is one "operations" row. Pure: standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

GroupBy = Literal["service", "team", "domain", "year", "period"]
GROUPINGS: tuple[GroupBy, ...] = ("service", "team", "domain", "year", "period")
OPERATIONS = "operations"
NO_TEAM = "(no team)"
NO_DOMAIN = "(no domain)"


@dataclass(frozen=True)
class IncidentFacts:
    """What the figures need of one incident, with its service's place in the catalogue already looked up."""

    id: str
    service: str
    team: str | None
    domain: str | None
    triggered_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    exposure: float | None = None           # the service's maximum financial exposure (amount); None: undeclared
    band_window_minutes: float | None = None  # the time window of the service's exposure band

    @property
    def tta_seconds(self) -> float | None:
        return (self.acknowledged_at - self.triggered_at).total_seconds() if self.acknowledged_at else None

    @property
    def ttr_seconds(self) -> float | None:
        return (self.resolved_at - self.triggered_at).total_seconds() if self.resolved_at else None

    @property
    def windows_to_restore(self) -> float | None:
        """TTR in band windows (2.7 = restored after 2.7 windows); None without a TTR, exposure or band."""
        ttr = self.ttr_seconds
        if ttr is None or self.exposure is None or not self.band_window_minutes:
            return None
        return ttr / 60.0 / self.band_window_minutes

    @property
    def expected_loss(self) -> float | None:
        return self.exposure if self.windows_to_restore is not None else None

    @property
    def realised_loss(self) -> float | None:
        windows = self.windows_to_restore
        return None if windows is None or self.exposure is None else self.exposure * windows

    @property
    def with_loss(self) -> bool:
        windows = self.windows_to_restore
        return windows is not None and windows > 1.0 and bool(self.exposure)


@dataclass(frozen=True)
class Deploy:
    service: str
    team: str | None
    domain: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class Summary:
    """Mean, p50 and p90 of some durations in seconds (None when there are none)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class ReportRow:
    group: str
    deploys: int
    incidents: int
    tta: Summary
    ttr: Summary
    incidents_with_loss: int
    expected_loss: float
    realised_loss: float
    effectiveness: float | None  # a fraction: 0.85 is 85%, -1.7 is -170%


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the ⌈p/100 x n⌉-th smallest value (p in (0, 100])."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, None, None, None)
    return Summary(len(values), sum(values) / len(values), percentile(values, 50), percentile(values, 90))


def effectiveness(incidents: Iterable[IncidentFacts]) -> tuple[float, float, float | None]:
    """(Σ expected, Σ realised, 1 - Σ realised ÷ Σ expected); the last is None when nothing is expected."""
    expected = realised = 0.0
    for incident in incidents:
        if incident.expected_loss is not None and incident.realised_loss is not None:
            expected += incident.expected_loss
            realised += incident.realised_loss
    return expected, realised, (1.0 - realised / expected) if expected > 0 else None


def group_of(by: GroupBy, when: datetime, service: str, team: str | None, domain: str | None,
             teams_from: datetime | None = None) -> str:
    if by == "service":
        return service
    if by == "team":
        return team or NO_TEAM
    if by == "domain":
        return domain or NO_DOMAIN
    if by == "period" and teams_from is not None and when < teams_from:
        return OPERATIONS
    return str(when.year)


def build_report(incidents: Sequence[IncidentFacts], deploys: Sequence[Deploy], by: GroupBy,
                 teams_from: datetime | None = None) -> list[ReportRow]:
    """One row per group that has incidents or deploys: time groups in time order ("operations" first), the
    others by name."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
    if by == "period" and teams_from is None:
        raise ValueError("grouping by period needs the date teams began running their own services (teams_from)")
    by_group: dict[str, list[IncidentFacts]] = {}
    deploy_counts: dict[str, int] = {}
    for incident in incidents:
        key = group_of(by, incident.triggered_at, incident.service, incident.team, incident.domain, teams_from)
        by_group.setdefault(key, []).append(incident)
    for deploy in deploys:
        key = group_of(by, deploy.occurred_at, deploy.service, deploy.team, deploy.domain, teams_from)
        deploy_counts[key] = deploy_counts.get(key, 0) + 1
    rows = []
    for key in sorted(by_group.keys() | deploy_counts.keys(), key=lambda k: (k != OPERATIONS, k)):
        group = by_group.get(key, [])
        expected, realised, ratio = effectiveness(group)
        rows.append(ReportRow(
            group=key, deploys=deploy_counts.get(key, 0), incidents=len(group),
            tta=summarise([t for i in group if (t := i.tta_seconds) is not None]),
            ttr=summarise([t for i in group if (t := i.ttr_seconds) is not None]),
            incidents_with_loss=sum(1 for i in group if i.with_loss),
            expected_loss=expected, realised_loss=realised, effectiveness=ratio))
    return rows


@dataclass(frozen=True)
class TrendPoint:
    """MTTA and MTTR (mean seconds) of the incidents triggered in one month ("2021-03")."""

    month: str
    mtta: float | None
    mttr: float | None


def monthly_trend(incidents: Sequence[IncidentFacts]) -> list[TrendPoint]:
    """MTTA/MTTR per calendar month (UTC as given) that had incidents, in time order: the chart's 'over time'."""
    months: dict[str, list[IncidentFacts]] = {}
    for incident in incidents:
        months.setdefault(incident.triggered_at.strftime("%Y-%m"), []).append(incident)
    return [TrendPoint(month, summarise([t for i in group if (t := i.tta_seconds) is not None]).mean,
                       summarise([t for i in group if (t := i.ttr_seconds) is not None]).mean)
            for month, group in sorted(months.items())]
