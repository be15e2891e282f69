"""The availability calculator's rows, worded: as a table, CSV or JSON for `pavedroad calculate`, and as the Slack
answer to `/incident service <name>`. Pure: catalogue and rows in, text out (bot/services/calculator.py computes
the rows; its figures are the domain's, bot/domain/exposure.py and bot/domain/coverage.py).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from bot.catalogue import Catalogue, Service
from bot.domain.coverage import Cover, CoverageRow
from bot.render.format import minutes, money, percent

Format = Literal["table", "csv", "json"]
COLUMNS = ("service", "team", "domain", "exposure", "band", "availability", "error budget / 30 days",
           "working hours", "out of hours", "problems")


def exposure_text(service: Service, currency: str) -> str:
    if service.exposure is None:
        return "—"
    return f"{money(service.exposure.amount, service.exposure.currency or currency)} in " \
           f"{minutes(service.exposure.window_minutes)}"


def cover_text(cover: Cover) -> str:
    if cover.level == "none":
        return "nobody"
    return f"{cover.level} rota ({cover.rota})" if cover.rota else f"{cover.level} rota (MISSING)"


def _record(catalogue: Catalogue, row: CoverageRow) -> dict[str, Any]:
    service = next(s for s in catalogue.services if s.id == row.service.id)
    return {
        "service": row.service.id, "name": row.service.name, "team": row.service.team, "domain": row.service.domain,
        "exposure": exposure_text(service, catalogue.currency),
        "exposure_amount": row.service.amount, "exposure_window_minutes": row.service.window_minutes,
        "currency": catalogue.currency,
        "band": row.band.name if row.band else None, "above_highest_band": row.above_highest,
        "availability": row.availability, "error_budget_minutes_per_30_days": row.error_budget_minutes,
        "working_hours_level": row.working_hours.level, "working_hours_rota": row.working_hours.rota,
        "out_of_hours_level": row.out_of_hours.level, "out_of_hours_rota": row.out_of_hours.rota,
        "problems": list(row.problems),
    }


def render(catalogue: Catalogue, rows: list[CoverageRow], fmt: Format) -> str:
    """The calculator's output: an aligned table with the problems listed under it, CSV, or JSON."""
    records = [_record(catalogue, r) for r in rows]
    if fmt == "json":
        return json.dumps({"bands": _bands(catalogue), "services": records}, indent=2, ensure_ascii=False)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["service"], lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "problems": "; ".join(record["problems"])})
        return out.getvalue().rstrip("\n")
    return _table(catalogue, rows, records)


def _bands(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [{"name": b.name, "max_exposure": f"{money(b.max_exposure.amount, catalogue.currency)} in "
                                             f"{minutes(b.max_exposure.window_minutes)}",
             "availability": b.availability, "error_budget_minutes_per_30_days": b.band().error_budget_minutes,
             "working_hours": b.working_hours, "out_of_hours": b.out_of_hours} for b in catalogue.exposure_bands]


def _table(catalogue: Catalogue, rows: list[CoverageRow], records: list[dict[str, Any]]) -> str:
    lines = [_align([["band", "max exposure", "availability", "error budget / 30 days", "working hours",
                      "out of hours"]] + [
        [b["name"], b["max_exposure"], percent(b["availability"]), f"{b['error_budget_minutes_per_30_days']:g} min",
         b["working_hours"], b["out_of_hours"]] for b in _bands(catalogue)]), ""]
    table = [list(COLUMNS[:-1])]
    for row, record in zip(rows, records, strict=True):
        band = (record["band"] or "—") + (" (ABOVE HIGHEST)" if row.above_highest else "")
        table.append([record["service"], record["team"], record["domain"] or "—", record["exposure"], band,
                      percent(row.availability),
                      f"{row.error_budget_minutes:g} min" if row.error_budget_minutes is not None else "—",
                      cover_text(row.working_hours), cover_text(row.out_of_hours)])
    lines.append(_align(table))
    flagged = [(r.service.id, p) for r in rows for p in r.problems]
    lines.append("")
    summary = f"{len(flagged)} problem(s):" if flagged else "no problems."
    lines.append(f"{len(rows)} service{'' if len(rows) == 1 else 's'}; {summary}")
    lines += [f"  - {sid}: {problem}" for sid, problem in flagged]
    return "\n".join(lines)


def _align(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def service_summary(catalogue: Catalogue, service: Service, row: CoverageRow) -> str:
    """`/incident service <name>`: the service's band, target, error budget and who covers it (its calculator
    `row`), for Slack."""
    team = catalogue.team(service.team)
    head = (f"*{service.name}* (`{service.id}`) — team {team.name if team else service.team}"
            + (f", product domain {row.service.domain}" if row.service.domain else ""))
    if row.band is None:
        return head + "\n⚠️ " + row.problems[0]
    lines = [head,
             f"Exposure {exposure_text(service, catalogue.currency)} → band *{row.band.name}*"
             + (" (⚠️ above the highest band)" if row.above_highest else "")
             + f" · availability target *{percent(row.band.availability)}* · error budget "
             f"*{row.band.error_budget_minutes:g} min* per 30 days",
             f"Working hours: {_slack_cover(catalogue, row.working_hours)}",
             f"Out of hours: {_slack_cover(catalogue, row.out_of_hours)}"]
    lines += [f"⚠️ {p}" for p in row.problems]
    return "\n".join(lines)


def _slack_cover(catalogue: Catalogue, cover: Cover) -> str:
    if cover.level == "none":
        return "no on-call"
    rota = catalogue.rota(cover.rota) if cover.rota else None
    if rota is None:
        return f"{cover.level} rota — *none in the catalogue*"
    return f"{cover.level} rota *{rota.name}* (`{rota.id}`, handed over in #{rota.slack_channel})"
