"""The report as a terminal table, CSV and JSON. Pure: rows in, text out.

JSON and CSV fields (stable; README "Reports" documents them): `group`, `deploys`, `incidents`, `tta_count`,
`tta_mean_s`, `tta_p50_s`, `tta_p90_s` (and the same for `ttr`), `incidents_with_loss`, `expected_loss`,
`realised_loss` (currency units), `effectiveness` (a fraction: -1.7 is -170%). Durations are seconds rounded to 0.1 s,
losses to 0.01, effectiveness to 4 places; absent figures are empty in CSV and null in JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain.reports import ReportRow, Summary
from bot.render.format import duration, percent

FIELDS = ("group", "deploys", "incidents", "tta_count", "tta_mean_s", "tta_p50_s", "tta_p90_s", "ttr_count",
          "ttr_mean_s", "ttr_p50_s", "ttr_p90_s", "incidents_with_loss", "expected_loss", "realised_loss",
          "effectiveness")


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def _summary_fields(prefix: str, summary: Summary) -> dict[str, Any]:
    return {f"{prefix}_count": summary.count, f"{prefix}_mean_s": _round(summary.mean, 1),
            f"{prefix}_p50_s": _round(summary.p50, 1), f"{prefix}_p90_s": _round(summary.p90, 1)}


def row_record(row: ReportRow) -> dict[str, Any]:
    return {"group": row.group, "deploys": row.deploys, "incidents": row.incidents,
            **_summary_fields("tta", row.tta), **_summary_fields("ttr", row.ttr),
            "incidents_with_loss": row.incidents_with_loss, "expected_loss": round(row.expected_loss, 2),
            "realised_loss": round(row.realised_loss, 2), "effectiveness": _round(row.effectiveness, 4)}


def to_json(rows: Sequence[ReportRow], *, by: str, start: datetime | None, end: datetime | None,
            teams_from: datetime | None) -> str:
    document = {"by": by, "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                "teams_from": teams_from.isoformat() if teams_from else None,
                "rows": [row_record(r) for r in rows]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_csv(rows: Sequence[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row_record(row).items()})
    return out.getvalue()


def _duration(seconds: float | None) -> str:
    """The table's reading of a duration: `38m 24s`, `2h 01m`, `26h 10m`, `—` for none; rounded to the second, and
    in hours past a day, so a column's figures compare at a glance."""
    return duration(seconds, days=False, zero_minutes=True, rounded=True)


def _percent(fraction: float | None) -> str:
    """A fraction as whole percents: -1.7 is `-170%`; `—` for none."""
    return percent(None if fraction is None else fraction * 100, places=0)


HEADERS = ("Group", "Deploys", "Incidents", "MTTA", "TTA p50", "TTA p90", "MTTR", "TTR p50", "TTR p90",
           "With loss", "Revenue protected")


def table_cells(rows: Sequence[ReportRow]) -> list[tuple[str, ...]]:
    return [(r.group, f"{r.deploys:,}", f"{r.incidents:,}", _duration(r.tta.mean), _duration(r.tta.p50),
             _duration(r.tta.p90), _duration(r.ttr.mean), _duration(r.ttr.p50), _duration(r.ttr.p90),
             f"{r.incidents_with_loss:,}", _percent(r.effectiveness)) for r in rows]


def to_table(rows: Sequence[ReportRow], by: str = "group") -> str:
    """A plain-text table (first column left-aligned, figures right-aligned) for a terminal or a Slack code block."""
    if not rows:
        return "No incidents or deploys in this period.\n"
    lines = [(by.capitalize(), *HEADERS[1:]), *table_cells(rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                            strict=True))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(lines[0]), rule, *(render(c) for c in lines[1:])]) + "\n"
