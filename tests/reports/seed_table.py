"""The seed's cost/benefit table (../shared/seed-figures.md, "The cost/benefit table"), transcribed: what
`pavedroad report --by model` must give on the synthetic history — every count exactly, MTTA and MTTR to the minute,
effectiveness to the percent. Read by the report's tests from a seeded database (test_seed_table) and after an
import from PagerDuty (test_import)."""

from __future__ import annotations

from typing import Any

# (model, year, services, teams, rotas, deploys, cadence, MTTA min, MTTR min, incidents with a revenue loss,
#  revenue protection effectiveness %). The source writes MTTR "2 hours" and "1 hour": 120 and 60 minutes.
SEED = [
    ("product teams", 2019, 28, 22, 14, 3387, "1 every 2 days", 2, 44, 4, 55),
    ("product teams", 2020, 44, 29, 16, 4220, "1 every 3 days", 2, 27, 3, 39),
    ("operations", 2019, 5, 3, 1, 170, "1 a week", 39, 120, 14, -170),
    ("operations", 2020, 4, 2, 1, 162, "1 a week", 6, 60, 7, 10),
]
SEED_INCIDENTS, SEED_DEPLOYS = 46, 7939  # what the synthetic history holds behind the table


def seed_figures(rows: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """A report's JSON rows read as the seed's table reads: minutes and percents rounded as it rounds them."""
    return [(r["model"], r["year"], r["services"], r["teams"], r["rotas"], r["deploys"], r["cadence"],
             round(r["tta_mean_s"] / 60), round(r["ttr_mean_s"] / 60), r["incidents_with_loss"],
             round(r["effectiveness"] * 100)) for r in rows]
