"""The `/incident report` use case: the report's table and chart from the store, computed off the event loop.

The history is read from the store (the IncidentHistory port); the figures and the chart (matplotlib, CPU-bound for
a few hundred milliseconds) are made on a worker thread, one chart at a time, so the bot keeps answering while it
draws.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.catalogue import Catalogue
from bot.errors import UserError
from bot.ports.store import History, IncidentHistory
from bot.render.report import to_table
from bot.services.reports.request import ReportRequest, ReportRequestError, compute, request_from_text


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
        try:
            return request_from_text(self._catalogue, text)
        except ReportRequestError as error:
            raise UserError(str(error)) from None

    async def render(self, request: ReportRequest) -> RenderedReport:
        history = await self._store.report_history(request.start, request.end)
        async with self._drawing:
            return await asyncio.to_thread(self._render, history, request)

    def _render(self, history: History, request: ReportRequest) -> RenderedReport:
        from bot.render.chart import render_png  # matplotlib loads on the first report, not at the bot's start

        report = compute(history, self._catalogue, request)
        return RenderedReport(request.title, to_table(report.rows, request.by),
                              render_png(report.trend, report.by_team, request.title), len(history.incidents))
