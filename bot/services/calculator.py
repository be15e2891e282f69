"""The availability calculator over a catalogue: each service's exposure band, availability target, error budget
and on-call cover, as rows (`service_coverage`), as a table, CSV or JSON (`pavedroad calculate`) and as a Slack
answer (`/incident service <name>`); and what an incident of a service puts at stake (`incident_exposure`).

The rules themselves are pure and live in `bot/domain/exposure.py` (bands, matching, error budget, loss) and
`bot/domain/coverage.py` (which rota covers a service); this module feeds them the catalogue and words the result.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from bot.catalogue import Catalogue, CatalogueError, Service, example_catalogue_path, load_catalogue
from bot.domain.coverage import Cover, CoverageRow, RotaFacts, ServiceFacts, coverage
from bot.domain.exposure import IncidentExposure
from bot.errors import UserError

Format = Literal["table", "csv", "json"]
COLUMNS = ("service", "team", "domain", "exposure", "band", "availability", "error budget / 30 days",
           "working hours", "out of hours", "problems")


def service_coverage(catalogue: Catalogue, services: list[Service] | None = None) -> list[CoverageRow]:
    """The calculator's rows for `services` (default: every service in the catalogue, in its order)."""
    facts = []
    for s in catalogue.services if services is None else services:
        team = catalogue.team(s.team)
        facts.append(ServiceFacts(s.id, s.name, s.team, team.domain if team else None,
                                  s.exposure.amount if s.exposure else None,
                                  s.exposure.window_minutes if s.exposure else None))
    rotas = [RotaFacts(r.id, r.team, r.domain, r.out_of_hours) for r in catalogue.rotas]
    return coverage(facts, [b.band() for b in catalogue.exposure_bands], rotas)


def incident_exposure(catalogue: Catalogue, pagerduty_service_id: str) -> IncidentExposure | None:
    """What an incident on this PagerDuty service puts at stake; None for a service with no declared exposure."""
    service = catalogue.service_by_pagerduty_id(pagerduty_service_id)
    match = catalogue.band_of(service) if service else None
    if service is None or service.exposure is None or match is None:
        return None
    return IncidentExposure(catalogue.currency, service.exposure.amount, match.band.window_minutes,
                            match.band.name, match.above_highest)


# -- finding a service by name -----------------------------------------------------------------------------------

def find_service(catalogue: Catalogue, name: str) -> Service:
    """The service called `name` (its id, name or PagerDuty service id, any case), or a UserError naming the
    closest ones."""
    wanted = " ".join(name.split()).lower()
    if not wanted:
        raise UserError("Which service? `/incident service <name>`, e.g. " + _examples(catalogue) + ".")
    for service in catalogue.services:
        if wanted in (service.id.lower(), service.name.lower(), service.pagerduty_service_id.lower()):
            return service
    keys = {k.lower(): s.id for s in catalogue.services for k in (s.id, s.name)}
    close = difflib.get_close_matches(wanted, list(keys), n=5, cutoff=0.6)
    close += [k for k in keys if wanted in k]  # "basket" finds "basket-api" and "basket-recommendations"
    suggestions = list(dict.fromkeys(keys[k] for k in close))[:5]
    hint = ("Did you mean " + ", ".join(f"`{sid}`" for sid in suggestions) + "?") if suggestions else \
        "Services in the catalogue: " + _examples(catalogue, limit=len(catalogue.services)) + "."
    raise UserError(f"I don't know a service called `{name.strip()}`. {hint}")


def _examples(catalogue: Catalogue, limit: int = 3) -> str:
    return ", ".join(f"`{s.id}`" for s in catalogue.services[:limit]) or "(the catalogue has no services)"


# -- wording -----------------------------------------------------------------------------------------------------

def money(amount: float, currency: str) -> str:
    """£210K, £1.2M, £750 — short, as people say it."""
    if amount >= 999_500:
        return f"{currency}{_trim(amount / 1_000_000)}M"
    if amount >= 1_000:
        return f"{currency}{_trim(amount / 1_000)}K"
    return f"{currency}{amount:.0f}"


def _trim(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or round(value, 1) == round(value) else f"{value:.1f}"


def minutes(value: float) -> str:
    """45 min, 22.5 min, 4 h, 1 h 30 min."""
    if value < 60:
        return f"{value:g} min"
    hours, rest = divmod(value, 60)
    return f"{hours:.0f} h" + (f" {rest:g} min" if rest else "")


def percent(value: float) -> str:
    """99.0%, 99.5%, 99.95%."""
    text = f"{value:.3f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + "%"


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
                      percent(row.availability) if row.availability is not None else "—",
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


def slack_summary(catalogue: Catalogue, service: Service) -> str:
    """`/incident service <name>`: the service's band, target, error budget and who covers it, for Slack."""
    [row] = service_coverage(catalogue, [service])
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


def run_calculate(path: Path | None, fmt: Format, *, check: bool = False) -> int:
    """`pavedroad calculate`: print the calculator's rows. Exit 2 for a catalogue that does not load, 1 with
    `--check` when a service is flagged, else 0."""
    if path is None and os.environ.get("CATALOGUE_PATH"):
        path = Path(os.environ["CATALOGUE_PATH"])
    if path is None:
        path = example_catalogue_path()
        print(f"(the bundled example catalogue, {path}: give yours with --catalogue or CATALOGUE_PATH)",
              file=sys.stderr)
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as error:
        print(f"Catalogue {path} has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    rows = service_coverage(catalogue)
    print(render(catalogue, rows, fmt))
    return 1 if check and any(r.problems for r in rows) else 0
