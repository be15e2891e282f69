"""The availability calculator: for each service, its exposure band, availability target, error budget, and who
covers it in working hours and out of hours. Pure: plain inputs in, one row per service out.

Coverage rule, for each of working hours and out of hours, from the service's band's on-call level:
- `team`: the rota whose `team` is the service's team (out of hours: one that has out-of-hours on-call);
- `domain`: the rota whose `domain` is the product domain of the service's team (likewise);
- `none`: nobody.
A level the catalogue has no rota for is a problem on the row that says which rota to add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.exposure import Band, Level, match_band


@dataclass(frozen=True)
class ServiceFacts:
    id: str
    name: str
    team: str
    domain: str | None          # the product domain of the service's team
    amount: float | None        # the declared exposure, None when it declares none
    window_minutes: float | None


@dataclass(frozen=True)
class RotaFacts:
    id: str
    team: str | None
    domain: str | None
    out_of_hours: bool


@dataclass(frozen=True)
class Cover:
    """Who covers a service at one time of day: the level its band asks for, and the rota that provides it."""

    level: Level
    rota: str | None


@dataclass(frozen=True)
class CoverageRow:
    service: ServiceFacts
    band: Band | None
    above_highest: bool
    working_hours: Cover
    out_of_hours: Cover
    problems: tuple[str, ...]

    @property
    def availability(self) -> float | None:
        return self.band.availability if self.band else None

    @property
    def error_budget_minutes(self) -> float | None:
        return self.band.error_budget_minutes if self.band else None


def coverage(services: Sequence[ServiceFacts], bands: Sequence[Band], rotas: Sequence[RotaFacts]) -> list[CoverageRow]:
    """One row per service, in the order given."""
    return [_row(service, bands, rotas) for service in services]


def _row(service: ServiceFacts, bands: Sequence[Band], rotas: Sequence[RotaFacts]) -> CoverageRow:
    if service.amount is None or service.window_minutes is None:
        nobody = Cover("none", None)
        return CoverageRow(service, None, False, nobody, nobody, (
            "declares no financial exposure, so it has no band, target or on-call level: add "
            "`exposure: \"£500K in 4h\"` (its most likely loss and the time it takes) to the service",))
    match = match_band(service.amount, service.window_minutes, bands)
    problems: list[str] = []
    if match.above_highest:
        problems.append(f"exposure is above the highest band ({match.band.name}): it gets {match.band.name}'s "
                        "targets, but the operating model does not cover it — add a band or review the service")
    working = _cover(service, match.band, match.band.working_hours, rotas, out_of_hours=False, problems=problems)
    night = _cover(service, match.band, match.band.out_of_hours, rotas, out_of_hours=True, problems=problems)
    return CoverageRow(service, match.band, match.above_highest, working, night, tuple(problems))


def _cover(service: ServiceFacts, band: Band, level: Level, rotas: Sequence[RotaFacts], *, out_of_hours: bool,
           problems: list[str]) -> Cover:
    when = "out of hours" if out_of_hours else "in working hours"
    if level == "none":
        return Cover(level, None)
    if level == "domain" and service.domain is None:
        problems.append(f"band {band.name} wants the product domain's rota {when}, but team {service.team!r} has "
                        f"no product domain: set `domain:` on team {service.team!r}")
        return Cover(level, None)
    if level == "team":
        candidates = [r for r in rotas if r.team == service.team]
        owner, field = f"team {service.team!r}", f"team: {service.team}"
    else:
        candidates = [r for r in rotas if r.domain == service.domain]
        owner, field = f"product domain {service.domain!r}", f"domain: {service.domain}"
    covering = [r for r in candidates if r.out_of_hours] if out_of_hours else candidates
    if covering:
        return Cover(level, covering[0].id)
    if candidates:
        problems.append(f"band {band.name} needs {owner} on call {when}, but its rota "
                        f"{candidates[0].id!r} has `out_of_hours: false`: set `out_of_hours: true` on it (and put "
                        "people on its PagerDuty schedule at night) or add a rota for the nights")
    else:
        problems.append(f"band {band.name} needs {owner} on call {when}, and no rota covers it: add a rota with "
                        f"`{field}` under `rotas:`")
    return Cover(level, None)
