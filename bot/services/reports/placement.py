"""Placing the stored history in the catalogue: each incident's and deploy's service, team, domain, exposure,
operating model and out-of-hours rota.

The operating model of a service is its catalogue `operating_model` when set; otherwise product teams run it from
`reports.teams_from` (and operations before), or always when that is unset. Its rota is the one that covers it out
of hours by its band (the availability calculator's rule); a level no catalogue rota provides still counts as the
rota it needs ("team:<id>" or "domain:<id>"), so the scale reads what the operating model asks for.

`place` places every incident of a History (the reference computation, request.compute); `report_catalogue` works
out each service's place once for the reports as they run (bot/domain/report_catalogue.py's `CellPlacer` places the
store's aggregated cells with it, the same way).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.catalogue import Catalogue, Service
from bot.domain.report_catalogue import ListedService, ReportCatalogue
from bot.domain.reports import OPERATIONS, PRODUCT_TEAMS, Deploy, IncidentFacts
from bot.services.calculator import service_coverage

if TYPE_CHECKING:
    from bot.ports.incident_history import History


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def place(history: History, catalogue: Catalogue,
          teams_from: datetime | None = None) -> tuple[list[IncidentFacts], list[Deploy]]:
    """Place each incident and deploy in the catalogue: service, team, domain, exposure and band window. A
    PagerDuty service the catalogue does not list keeps its PagerDuty name and has no team and no exposure.
    `teams_from`: when product teams took over, for the operating model (`--teams-from`); else the catalogue's."""
    rotas = _out_of_hours_rotas(catalogue)
    if teams_from is None and catalogue.reports.teams_from:
        teams_from = datetime.combine(catalogue.reports.teams_from, datetime.min.time(), tzinfo=UTC)

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


def report_catalogue(catalogue: Catalogue) -> ReportCatalogue:
    """What a report needs of the catalogue (bot/domain/report_catalogue.py): each listed service's place, looked up
    once as `place` looks it up per incident."""
    services: dict[str, ListedService] = {}
    for service in catalogue.services:
        if service.pagerduty_service_id in services:
            continue  # the first service naming a PagerDuty service is the one it places (service_by_pagerduty_id)
        team = catalogue.team(service.team)
        match = catalogue.band_of(service)
        services[service.pagerduty_service_id] = ListedService(
            service=service.id, team=service.team, domain=team.domain if team else None,
            exposure=service.exposure.amount if service.exposure else None,
            window_minutes=match.band.window_minutes if match else None,
            operating_model=service.operating_model or None)
    return ReportCatalogue(services, _out_of_hours_rotas(catalogue), catalogue.reports.teams_from)
