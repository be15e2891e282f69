"""Placing the stored history in the catalogue: each incident's and deploy's service, team, domain and exposure."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.catalogue import Catalogue
from bot.domain.reports import Deploy, IncidentFacts
from bot.ports.store import History


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def place(history: History, catalogue: Catalogue) -> tuple[list[IncidentFacts], list[Deploy]]:
    """Place each incident and deploy in the catalogue: service, team, domain, exposure and band window. A
    PagerDuty service the catalogue does not list keeps its PagerDuty name and has no team and no exposure."""
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
        incident_facts.append(IncidentFacts(
            id=incident.id, service=service, team=team, domain=domain, triggered_at=_utc(incident.triggered_at),
            acknowledged_at=_utc(incident.acknowledged_at) if incident.acknowledged_at else None,
            resolved_at=_utc(incident.resolved_at) if incident.resolved_at else None,
            exposure=exposure, band_window_minutes=window))
    deploys = []
    for record in history.deploys:
        service, team, domain, _, _ = locate(record.service_id, record.service_id)
        deploys.append(Deploy(service, team, domain, _utc(record.occurred_at)))
    return incident_facts, deploys
