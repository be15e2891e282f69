"""The report as a terminal table, CSV and JSON. Pure: rows in, text out.

JSON and CSV fields (stable; README "Reports" documents them): `group`, `deploys`, `incidents`, `tta_count`,
`tta_mean_s`, `tta_p50_s`, `tta_p90_s` (and the same for `ttr`), `incidents_with_loss`, `expected_loss`,
`realised_loss` (currency units), `effectiveness` (a fraction: -1.7 is -170%). Durations are seconds rounded to 0.1 s,
losses to 0.01, effectiveness to 4 places; absent figures are empty in CSV and null in JSON. By model, each row also
has `model`, `year`, `services`, `teams`, `rotas` and `cadence` (words), and the table takes the seed's shape.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain.reports import ReportRow, Summary
from bot.render.format import NONE, duration, half_up, minutes, percent

FIELDS = ("group", "deploys", "incidents", "tta_count", "tta_mean_s", "tta_p50_s", "tta_p90_s", "ttr_count",
          "ttr_mean_s", "ttr_p50_s", "ttr_p90_s", "incidents_with_loss", "expected_loss", "realised_loss",
          "effectiveness")
MODEL_FIELDS = ("model", "year", "services", "teams", "rotas", "cadence")


# Places rounded to first, beyond those printed: the same figure added up in another order (the store adds per cell of
# incidents, the reference report per incident) may differ in its last bits and fall either side of a half — a loss of
# exactly 787,518.125 came out as …124999 one way and …125001 the other, printed .12 and .13. Rounded to a few places
# more first, both are the same float, and print the same.
GUARD_PLACES = 4


def _steady(value: float | None, places: int) -> float | None:
    """The value rounded to GUARD_PLACES more than `places`: its last bits no longer decide how it prints."""
    return None if value is None else round(value, places + GUARD_PLACES)


def _round(value: float | None, places: int) -> float | None:
    steady = _steady(value, places)
    return None if steady is None else round(steady, places)


def _summary_fields(prefix: str, summary: Summary) -> dict[str, Any]:
    return {f"{prefix}_count": summary.count, f"{prefix}_mean_s": _round(summary.mean, 1),
            f"{prefix}_p50_s": _round(summary.p50, 1), f"{prefix}_p90_s": _round(summary.p90, 1)}


def row_record(row: ReportRow) -> dict[str, Any]:
    scale = row.scale
    model = {} if scale is None else {"model": scale.model, "year": scale.year, "services": scale.services,
                                      "teams": scale.teams, "rotas": scale.rotas, "cadence": scale.cadence}
    return {"group": row.group, **model, "deploys": row.deploys, "incidents": row.incidents,
            **_summary_fields("tta", row.tta), **_summary_fields("ttr", row.ttr),
            "incidents_with_loss": row.incidents_with_loss, "expected_loss": _round(row.expected_loss, 2),
            "realised_loss": _round(row.realised_loss, 2), "effectiveness": _round(row.effectiveness, 4)}


def to_json(rows: Sequence[ReportRow], *, by: str, start: datetime | None, end: datetime | None,
            teams_from: datetime | None) -> str:
    document = {"by": by, "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                "teams_from": teams_from.isoformat() if teams_from else None,
                "rows": [row_record(r) for r in rows]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_csv(rows: Sequence[ReportRow]) -> str:
    out = io.StringIO()
    by_model = any(r.scale for r in rows)
    writer = csv.DictWriter(out, fieldnames=(FIELDS[0], *MODEL_FIELDS, *FIELDS[1:]) if by_model else FIELDS,
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row_record(row).items()})
    return out.getvalue()


def _duration(seconds: float | None) -> str:
    """The table's reading of a duration: `38m 24s`, `2h 01m`, `26h 10m`, `—` for none; rounded to the second, and
    in hours past a day, so a column's figures compare at a glance."""
    return duration(_steady(seconds, 0), days=False, zero_minutes=True, rounded=True)


def _percent(fraction: float | None) -> str:
    """A fraction as whole percents: -1.7 is `-170%`; `—` for none."""
    return percent(None if fraction is None else _steady(fraction * 100, 0), places=0)


HEADERS = ("Group", "Deploys", "Incidents", "MTTA", "TTA p50", "TTA p90", "MTTR", "TTR p50", "TTR p90",
           "With loss", "Revenue protected")


def table_cells(rows: Sequence[ReportRow]) -> list[tuple[str, ...]]:
    return [(r.group, f"{r.deploys:,}", f"{r.incidents:,}", _duration(r.tta.mean), _duration(r.tta.p50),
             _duration(r.tta.p90), _duration(r.ttr.mean), _duration(r.ttr.p50), _duration(r.ttr.p90),
             f"{r.incidents_with_loss:,}", _percent(r.effectiveness)) for r in rows]


MODEL_HEADERS = ("Model", "Year", "Services", "Teams", "Rotas", "Deploys", "Cadence", "MTTA", "MTTR", "With loss",
                 "Revenue protected")


def _to_the_minute(seconds: float | None) -> str:
    return NONE if seconds is None else minutes(half_up(_steady(seconds / 60, 0) or 0.0))


def model_cells(rows: Sequence[ReportRow]) -> list[tuple[str, ...]]:
    """The seed's table: scale, deploys and cadence, MTTA and MTTR to the minute, losses, effectiveness."""
    return [(s.model, str(s.year), f"{s.services:,}", f"{s.teams:,}", f"{s.rotas:,}", f"{r.deploys:,}", s.cadence,
             _to_the_minute(r.tta.mean), _to_the_minute(r.ttr.mean), f"{r.incidents_with_loss:,}",
             _percent(r.effectiveness)) for r in rows if (s := r.scale) is not None]


def to_table(rows: Sequence[ReportRow], by: str = "group") -> str:
    """A plain-text table (first column left-aligned, figures right-aligned) for a terminal or a Slack code block;
    by model, the first two columns and the cadence are words, left-aligned."""
    if not rows:
        return "No incidents or deploys in this period.\n"
    if by == "model":
        return _aligned([MODEL_HEADERS, *model_cells(rows)], left=(0, 1, 6))
    return _aligned([(by.capitalize(), *HEADERS[1:]), *table_cells(rows)], left=(0,))


def _aligned(lines: Sequence[tuple[str, ...]], left: tuple[int, ...]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                               strict=True))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(lines[0]), rule, *(render(c) for c in lines[1:])]) + "\n"
