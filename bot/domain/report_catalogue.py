"""What a report needs of the catalogue, and nothing more (`ReportCatalogue`): where each PagerDuty service the
catalogue lists stands — its catalogue id, team, domain, exposure, band window, operating model and out-of-hours
rota, each worked out once — and when product teams took over (`reports.teams_from`); and `CellPlacer`, which places
the store's report cells with it.

It is built from a validated catalogue (services/reports/placement.py's `report_catalogue`), and `pavedroad report`
reads it back from the view it kept of the last catalogue it validated (bot/app/cli/report_catalogue.py), so that a
report starts without loading the catalogue's validation (pydantic). Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.domain.report_totals import Cell, CellPlace
from bot.domain.reports import OPERATIONS, PRODUCT_TEAMS


@dataclass(frozen=True)
class ListedService:
    """A catalogue service as a report places its incidents and deploys."""

    service: str                  # its catalogue id
    team: str
    domain: str | None            # its team's product domain
    exposure: float | None        # its maximum financial exposure (amount); None: undeclared
    window_minutes: float | None  # its exposure band's window; None: no exposure
    operating_model: str | None   # who runs it, when the catalogue fixes it; None: by reports.teams_from


@dataclass(frozen=True)
class ReportCatalogue:
    services: Mapping[str, ListedService]  # by PagerDuty service id (the first service naming it)
    rotas: Mapping[str, str]               # catalogue service id → who covers it out of hours (a rota, or the level)
    teams_from: date | None                # reports.teams_from

    @property
    def listed(self) -> frozenset[str]:
        """The PagerDuty service ids the catalogue lists."""
        return frozenset(pagerduty_service_id for pagerduty_service_id in self.services if pagerduty_service_id)

    def handover(self) -> datetime | None:
        """When product teams took over: the start of reports.teams_from's day in UTC."""
        return datetime.combine(self.teams_from, datetime.min.time(), tzinfo=UTC) if self.teams_from else None


def operating_model_cut(catalogue: ReportCatalogue, teams_from: datetime | None) -> datetime | None:
    """When product teams took over, for the operating model: the request's `teams_from` — the catalogue's
    reports.teams_from unless `--teams-from` overrides it, as its help says, for every grouping — else the
    catalogue's."""
    return teams_from if teams_from is not None else catalogue.handover()


class CellPlacer:
    """Places the store's report cells (a service, a UTC month, a segment of time) in the catalogue, as
    services/reports/placement.py's `place` does each incident. `cuts` are the query's sorted cut times: the
    request's teams_from (the period grouping) and the catalogue's (the operating model), either or both."""

    def __init__(self, catalogue: ReportCatalogue, cuts: tuple[datetime, ...], teams_from: datetime | None) -> None:
        self._services, self._rotas = catalogue.services, catalogue.rotas
        model_cut = operating_model_cut(catalogue, teams_from)
        # A time is before cut i when fewer than i + 1 cuts are at or before it: segment <= i.
        self._period_segment = cuts.index(teams_from) if teams_from is not None else None
        self._model_segment = cuts.index(model_cut) if model_cut is not None else None

    def __call__(self, cell: Cell) -> CellPlace:
        pagerduty_service_id, name, month, segment = cell
        listed = self._services.get(pagerduty_service_id)
        before_model_cut = self._model_segment is not None and segment <= self._model_segment
        model = (listed.operating_model if listed else None) or (OPERATIONS if before_model_cut else PRODUCT_TEAMS)
        before_teams_from = self._period_segment is not None and segment <= self._period_segment
        if listed is None:  # a PagerDuty service the catalogue does not list: its name, no team, no exposure
            service = name or pagerduty_service_id
            return CellPlace(service=service, team=None, domain=None, exposure=None, window_minutes=None, model=model,
                             rota=self._rotas.get(service), year=int(month[:4]), before_teams_from=before_teams_from)
        return CellPlace(service=listed.service, team=listed.team, domain=listed.domain, exposure=listed.exposure,
                         window_minutes=listed.window_minutes, model=model, rota=self._rotas.get(listed.service),
                         year=int(month[:4]), before_teams_from=before_teams_from)
