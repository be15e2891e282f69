"""A report computed by the store rather than in Python: counts and every duration per service, month and segment
come from SQL (the IncidentHistory port's `report_aggregates`), placed in the catalogue once per cell, never one
incident at a time. The figures are those `request.compute` works out from every incident (the reference the tests
compare against).

What a report needs of the catalogue is a `ReportCatalogue` (services/reports/placement.py's `report_catalogue`
builds it from a validated catalogue), so that `pavedroad report` can start from the view it kept
(bot/app/cli/report_catalogue.py) without loading the catalogue's validation."""

from __future__ import annotations

from bot.domain.report_catalogue import CellPlacer, ReportCatalogue, operating_model_cut
from bot.domain.report_totals import ReportTallies
from bot.domain.reports import GroupBy
from bot.ports.report_aggregates import ReportAggregates, ReportQuery
from bot.services.reports.request import Report, ReportRequest


def report_query(catalogue: ReportCatalogue, request: ReportRequest) -> ReportQuery:
    model_cut = operating_model_cut(catalogue, request.teams_from)
    cuts = tuple(sorted({cut for cut in (request.teams_from, model_cut) if cut is not None}))
    return ReportQuery(request.start, request.end, cuts, catalogue.listed)


async def aggregate_report(store: ReportAggregates, catalogue: ReportCatalogue, request: ReportRequest, *,
                           by_team: bool = True) -> Report:
    """The report's rows (and the chart's trend and team rows, unless `by_team` is False) from one read of the
    store."""
    query, tallies = report_tallies(catalogue, request, by_team=by_team)
    await store.report_aggregates(query, tallies)
    return finished_report(request, tallies, by_team=by_team)


def report_tallies(catalogue: ReportCatalogue, request: ReportRequest, *,
                   by_team: bool) -> tuple[ReportQuery, ReportTallies]:
    """What to ask the store and what takes its answer: `aggregate_report`'s first half, for a caller that reads
    the store without an event loop (`pavedroad report`: plain sqlite3 or psycopg, no asyncio to load)."""
    query = report_query(catalogue, request)
    groupings: list[GroupBy] = [request.by, "team"] if by_team else [request.by]
    return query, ReportTallies(groupings, CellPlacer(catalogue, query.cuts, request.teams_from))


def finished_report(request: ReportRequest, tallies: ReportTallies, *, by_team: bool) -> Report:
    """The report from the tallies, once the store has handed them every aggregate."""
    return Report(request, tallies.rows(request.by), tallies.trend(), tallies.rows("team") if by_team else [])
