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
began running their own services (`teams_from`) is one "operations" row — or by operating model and year (`model`):
the seed's own table, whose rows also carry the model's scale that year and its deploy cadence:

- Scale: `services` are the model's services with a deploy or an incident that year; `teams`, their owning teams;
  `rotas`, the out-of-hours on-call they need by their exposure bands (the rota covering a service out of hours —
  its team's for a `team` level, its product domain's for `domain`; none for `none`), each counted once. Out-of-hours
  cover is what a rota costs (someone on call at night), so it is what the operating model's table counts.
- Cadence: how often a service deploys, from deploys ÷ services ÷ weeks in the year (r a week). At 1.5 a week or
  more it is "1 every N days" with N the working days between deploys (5 ÷ r, to the nearest day; "1 a day" for
  N ≤ 1, "N a day" past two a day); from 0.5 to 1.5 a week, "1 a week"; from one a month (12 ÷ 52 a week), "1 every
  N weeks" (1 ÷ r, to the nearest week); below, "1 every N months". Whole units, as people say it.
Pure: standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

GroupBy = Literal["service", "team", "domain", "year", "period", "model"]
GROUPINGS: tuple[GroupBy, ...] = ("service", "team", "domain", "year", "period", "model")
OPERATIONS = "operations"
PRODUCT_TEAMS = "product teams"
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
    model: str | None = None                # the operating model running the service when it was triggered
    rota: str | None = None                 # who covers the service out of hours (a rota), None: nobody

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
    model: str | None = None
    rota: str | None = None


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
    scale: Scale | None = None   # by model only


@dataclass(frozen=True)
class Scale:
    """An operating model's size in one year, and how often its services deploy (see the module's docstring)."""

    model: str
    year: int
    services: int
    teams: int
    rotas: int
    cadence: str


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


def _model_key(model: str | None, when: datetime) -> tuple[str, int]:
    return model or PRODUCT_TEAMS, when.year


def build_report(incidents: Sequence[IncidentFacts], deploys: Sequence[Deploy], by: GroupBy,
                 teams_from: datetime | None = None) -> list[ReportRow]:
    """One row per group that has incidents or deploys: time groups in time order ("operations" first), the
    others by name."""
    if by == "model":
        return build_model_report(incidents, deploys)
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
        rows.append(_row(key, by_group.get(key, []), deploy_counts.get(key, 0)))
    return rows


def _row(group: str, incidents: Sequence[IncidentFacts], deploys: int) -> ReportRow:
    expected, realised, ratio = effectiveness(incidents)
    return ReportRow(
        group=group, deploys=deploys, incidents=len(incidents),
        tta=summarise([t for i in incidents if (t := i.tta_seconds) is not None]),
        ttr=summarise([t for i in incidents if (t := i.ttr_seconds) is not None]),
        incidents_with_loss=sum(1 for i in incidents if i.with_loss),
        expected_loss=expected, realised_loss=realised, effectiveness=ratio)


def build_model_report(incidents: Sequence[IncidentFacts], deploys: Sequence[Deploy]) -> list[ReportRow]:
    """One row per operating model and year (the seed's table): product teams first, operations last, other
    models between them by name; years in order. Each row's group is "<model> <year>"."""
    by_key: dict[tuple[str, int], list[IncidentFacts]] = {}
    deployed: dict[tuple[str, int], list[Deploy]] = {}
    for incident in incidents:
        by_key.setdefault(_model_key(incident.model, incident.triggered_at), []).append(incident)
    for deploy in deploys:
        deployed.setdefault(_model_key(deploy.model, deploy.occurred_at), []).append(deploy)
    rows = []
    for key in sorted(by_key.keys() | deployed.keys(), key=lambda k: (k[0] != PRODUCT_TEAMS, k[0] == OPERATIONS, k)):
        model, year = key
        group, shipped = by_key.get(key, []), deployed.get(key, [])
        facts: list[IncidentFacts | Deploy] = [*group, *shipped]
        services = {f.service for f in facts}
        scale = Scale(model, year, len(services), len({f.team for f in facts if f.team}),
                      len({f.rota for f in facts if f.rota}), cadence(len(shipped), len(services), year))
        rows.append(replace(_row(f"{model} {year}", group, len(shipped)), scale=scale))
    return rows


def cadence(deploys: int, services: int, year: int) -> str:
    """How often a service deployed that year, in words (see the module's docstring)."""
    if not deploys or not services:
        return "none"
    weeks = (date(year + 1, 1, 1) - date(year, 1, 1)).days / 7
    per_week = deploys / services / weeks
    if per_week >= 1.5:
        days = 5 / per_week
        if days < 0.5:
            return f"{round(per_week / 5)} a day"
        return "1 a day" if round(days) <= 1 else f"1 every {round(days)} days"
    if per_week >= 0.5:
        return "1 a week"
    if per_week >= 12 / 52:
        return f"1 every {round(1 / per_week)} weeks"
    months = round(12 / 52 / per_week)
    return "1 a month" if months <= 1 else f"1 every {months} months"


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
