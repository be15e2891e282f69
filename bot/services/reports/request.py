"""What a report is asked for (grouping, dates) — read from CLI flags or `/incident report` text — and computing it.

Dates are calendar days in UTC: `--from 2021-01-01 --to 2022-01-01` covers incidents triggered in 2021 (`to` is
exclusive). Bad input raises `ReportRequestError` naming the flag and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from bot.domain.report_catalogue import ReportCatalogue
from bot.domain.reports import GROUPINGS, GroupBy, ReportRow, TrendPoint, build_report, monthly_trend

if TYPE_CHECKING:  # the catalogue's models (pydantic) load only where a full catalogue is used, not for a report
    from bot.catalogue import Catalogue
    from bot.ports.incident_history import History

FORMATS = ("table", "csv", "json")


class ReportRequestError(ValueError):
    """A report flag is wrong; the message names it and says what to write instead."""


@dataclass(frozen=True)
class ReportRequest:
    by: GroupBy
    start: datetime | None = None
    end: datetime | None = None
    teams_from: datetime | None = None

    @property
    def title(self) -> str:
        span = " ".join(filter(None, (f"from {self.start.date()}" if self.start else "",
                                      f"to {self.end.date()}" if self.end else "")))
        return f"Incidents by {self.by}" + (f", {span}" if span else "")


@dataclass(frozen=True)
class Report:
    request: ReportRequest
    rows: list[ReportRow]
    trend: list[TrendPoint]
    by_team: list[ReportRow]


def parse_day(text: str, flag: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise ReportRequestError(f"`{flag} {text}` is not a date: write it as YYYY-MM-DD, e.g. `{flag} 2021-01-01`"
                                 ) from None


def make_request(catalogue: Catalogue | ReportCatalogue, by: str | None = None, start: str | None = None,
                 end: str | None = None, teams_from: str | None = None) -> ReportRequest:
    """Check the flags. Without `--by`: by period when the catalogue says when teams took over (reports.teams_from),
    else by year."""
    configured = catalogue.teams_from if isinstance(catalogue, ReportCatalogue) else catalogue.reports.teams_from
    handover = parse_day(teams_from, "--teams-from") if teams_from else (
        datetime.combine(configured, datetime.min.time(), tzinfo=UTC) if configured else None)
    chosen = (by or ("period" if handover else "year")).lower()
    if chosen not in GROUPINGS:
        raise ReportRequestError(f"`--by {by}` is not a grouping: use one of {', '.join(GROUPINGS)}")
    if chosen == "period" and handover is None:
        raise ReportRequestError("`--by period` needs the date teams began running their own services: give "
                                 "`--teams-from YYYY-MM-DD`, or set `reports.teams_from` in the catalogue")
    first = parse_day(start, "--from") if start else None
    last = parse_day(end, "--to") if end else None
    if first and last and first >= last:
        raise ReportRequestError(f"`--from {start}` is not before `--to {end}`: the period is [from, to), "
                                 "to is exclusive")
    return ReportRequest(chosen, first, last, handover)


_FLAG = re.compile(r"--([a-z-]+)(?:=|\s+)?(\S+)?")
_KNOWN = {"by": "by", "from": "start", "to": "end", "teams-from": "teams_from"}


def request_from_text(catalogue: Catalogue | ReportCatalogue, text: str) -> ReportRequest:
    """`--by team --from 2021-01-01` (as typed after `/incident report`) → a checked request."""
    values: dict[str, str] = {}
    rest = _FLAG.sub(lambda m: _take(m, values) or "", text.replace("\u2014", "--").replace("\u2013", "--"))
    if rest.strip():
        raise ReportRequestError(f"I don't understand `{rest.strip()}`: use `/incident report [--by "
                                 f"{'|'.join(GROUPINGS)}] [--from YYYY-MM-DD] [--to YYYY-MM-DD]`")
    return make_request(catalogue, **values)


def _take(match: re.Match[str], values: dict[str, str]) -> str:
    name, value = match.group(1), match.group(2)
    if name not in _KNOWN:
        raise ReportRequestError(f"`--{name}` is not a report flag: use --by, --from, --to or --teams-from")
    if not value or value.startswith("--"):
        raise ReportRequestError(f"`--{name}` needs a value, e.g. `--{name} "
                                 f"{'team' if name == 'by' else '2021-01-01'}`")
    values[_KNOWN[name]] = value
    return ""


def compute(history: History, catalogue: Catalogue, request: ReportRequest) -> Report:
    from bot.services.reports.placement import place  # the reference computation: the full catalogue's

    incidents, deploys = place(history, catalogue, request.teams_from)
    return Report(request, build_report(incidents, deploys, request.by, request.teams_from),
                  monthly_trend(incidents), build_report(incidents, deploys, "team"))
