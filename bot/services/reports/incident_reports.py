"""The `/incident report` use case: the report's table and chart from the store, computed off the event loop.

The figures are aggregated by the store (the IncidentHistory port's `report_aggregates`, aggregate.py); the chart
(matplotlib, CPU-bound for a few hundred milliseconds) is drawn on a worker thread, one chart at a time, so the bot
keeps answering while it draws.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.catalogue import Catalogue
from bot.errors import UserError
from bot.ports.incident_history import IncidentHistory
from bot.render.format import escape
from bot.render.report import to_table
from bot.services.reports.aggregate import aggregate_report
from bot.services.reports.placement import report_catalogue
from bot.services.reports.request import Report, ReportRequest, ReportRequestError, request_from_text


@dataclass(frozen=True)
class RenderedReport:
    title: str
    table: str
    png: bytes
    incidents: int


class IncidentReports:
    def __init__(self, store: IncidentHistory, catalogue: Catalogue) -> None:
        self._store, self._catalogue = store, catalogue
        self._drawing = asyncio.Lock()

    def request(self, text: str) -> ReportRequest:
        # Slack sends typed text escaped: read back, so that a refusal shows it as typed; the refusal, which quotes
        # it, is escaped for Slack (never a mention or a link of the sender's making).
        readable = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        try:
            return request_from_text(self._catalogue, readable)
        except ReportRequestError as error:
            raise UserError(escape(str(error))) from None

    async def render(self, request: ReportRequest) -> RenderedReport:
        report = await aggregate_report(self._store, report_catalogue(self._catalogue), request)
        async with self._drawing:
            return await asyncio.to_thread(self._render, report)

    def _render(self, report: Report) -> RenderedReport:
        from bot.render.chart import render_png  # matplotlib loads on the first report, not at the bot's start

        request = report.request
        return RenderedReport(request.title, to_table(report.rows, request.by),
                              render_png(report.trend, report.by_team, request.title),
                              sum(row.incidents for row in report.rows))
