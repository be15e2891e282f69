"""Placing the stored history in the catalogue: each incident's and deploy's service, team, domain, exposure,
operating model and out-of-hours rota.

The operating model of a service is its catalogue `operating_model` when set; otherwise product teams run it from
`reports.teams_from` (and operations before), or always when that is unset. Its rota is the one that covers it out
of hours by its band (the availability calculator's rule); a level no catalogue rota provides still counts as the
rota it needs ("team:<id>" or "domain:<id>"), so the scale reads what the operating model asks for.

`place` places every incident of a History (the reference computation, request.compute); `CellPlacer` places the
store's aggregated cells for the reports as they run (aggregate.py), the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.catalogue import Catalogue, Service
from bot.domain.report_totals import Cell, CellPlace
from bot.domain.reports import OPERATIONS, PRODUCT_TEAMS, Deploy, IncidentFacts
from bot.services.calculator import service_coverage

if TYPE_CHECKING:
    from bot.ports.store import History


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def place(history: History, catalogue: Catalogue) -> tuple[list[IncidentFacts], list[Deploy]]:
    """Place each incident and deploy in the catalogue: service, team, domain, exposure and band window. A
    PagerDuty service the catalogue does not list keeps its PagerDuty name and has no team and no exposure."""
    rotas = _out_of_hours_rotas(catalogue)
    teams_from = (datetime.combine(catalogue.reports.teams_from, datetime.min.time(), tzinfo=UTC)
                  if catalogue.reports.teams_from else None)

    def model(service: Service | None, when: datetime) -> str:
        if service is not None and service.operating_model:
            return service.operating_model
        return OPERATIONS if teams_from is not None and when < teams_from else PRODUCT_TEAMS

    def locate(pagerduty_service_id: str, fallback: str) -> tuple[str, str | None, str | None, float | None,
                                                                 float | None]:
        service = catalogue.service_by_pagerduty_id(pagerduty_service_id)
        if service is None:
            return fallback or pagerduty_service_id, None, None, None, None
        team = catalogue.team(service.team)
        match = catalogue.band_of(service)
        return (service.id, service.team, team.domain if team else None,
                service.exposure.amount if service.exposure else None,
                match.band.window_minutes if match else None)

    incident_facts = []
    for incident in history.incidents:
        service, team, domain, exposure, window = locate(incident.service_id, incident.service_name)
        listed = catalogue.service_by_pagerduty_id(incident.service_id)
        triggered = _utc(incident.triggered_at)
        incident_facts.append(IncidentFacts(
            id=incident.id, service=service, team=team, domain=domain, triggered_at=triggered,
            acknowledged_at=_utc(incident.acknowledged_at) if incident.acknowledged_at else None,
            resolved_at=_utc(incident.resolved_at) if incident.resolved_at else None,
            exposure=exposure, band_window_minutes=window, model=model(listed, triggered),
            rota=rotas.get(service)))
    deploys = []
    for record in history.deploys:
        service, team, domain, _, _ = locate(record.service_id, record.service_id)
        listed = catalogue.service_by_pagerduty_id(record.service_id)
        occurred = _utc(record.occurred_at)
        deploys.append(Deploy(service, team, domain, occurred, model(listed, occurred), rotas.get(service)))
    return incident_facts, deploys


def _out_of_hours_rota(level: str, rota: str | None, team: str, domain: str | None) -> str | None:
    if level == "none":
        return None
    return rota or (f"team:{team}" if level == "team" else f"domain:{domain or team}")


def _out_of_hours_rotas(catalogue: Catalogue) -> dict[str, str]:
    """Catalogue service id → the rota covering it out of hours (see the module's docstring)."""
    found = {}
    for row in service_coverage(catalogue):
        rota = _out_of_hours_rota(row.out_of_hours.level, row.out_of_hours.rota, row.service.team,
                                  row.service.domain)
        if rota is not None:
            found[row.service.id] = rota
    return found


class CellPlacer:
    """Places the store's report cells (a service, a UTC month, a segment of time) in the catalogue, as `place` does
    each incident: the service's team, domain, exposure and band looked up once per service, not per incident.
    `cuts` are the query's sorted cut times: the request's teams_from (the period grouping) and the catalogue's
    (the operating model), either or both."""

    def __init__(self, catalogue: Catalogue, cuts: tuple[datetime, ...], teams_from: datetime | None) -> None:
        self._catalogue = catalogue
        self._rotas = _out_of_hours_rotas(catalogue)
        configured = catalogue.reports.teams_from
        model_cut = datetime.combine(configured, datetime.min.time(), tzinfo=UTC) if configured else None
        # A time is before cut i when fewer than i + 1 cuts are at or before it: segment <= i.
        self._period_segment = cuts.index(teams_from) if teams_from is not None else None
        self._model_segment = cuts.index(model_cut) if model_cut is not None else None
        self._services: dict[tuple[str, str | None], tuple[str, str | None, str | None, float | None,
                                                         float | None, str | None]] = {}

    def _service(self, pagerduty_service_id: str, name: str | None) -> tuple[str, str | None, str | None,
                                                                            float | None, float | None, str | None]:
        known = self._services.get((pagerduty_service_id, name))
        if known is None:
            catalogue = self._catalogue
            service = catalogue.service_by_pagerduty_id(pagerduty_service_id)
            if service is None:
                known = (name or pagerduty_service_id, None, None, None, None, None)
            else:
                team = catalogue.team(service.team)
                match = catalogue.band_of(service)
                known = (service.id, service.team, team.domain if team else None,
                         service.exposure.amount if service.exposure else None,
                         match.band.window_minutes if match else None, service.operating_model or None)
            self._services[(pagerduty_service_id, name)] = known
        return known

    def __call__(self, cell: Cell) -> CellPlace:
        pagerduty_service_id, name, month, segment = cell
        service, team, domain, exposure, window, fixed_model = self._service(pagerduty_service_id, name)
        before_model_cut = self._model_segment is not None and segment <= self._model_segment
        return CellPlace(service=service, team=team, domain=domain, exposure=exposure, window_minutes=window,
                         model=fixed_model or (OPERATIONS if before_model_cut else PRODUCT_TEAMS),
                         rota=self._rotas.get(service), year=int(month[:4]),
                         before_teams_from=self._period_segment is not None and segment <= self._period_segment)
