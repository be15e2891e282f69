"""The report prints the same figures whichever order they were added up in: the store's aggregates add losses per
cell of incidents, the reference report per incident, and the two sums may differ in their last bits. CI's
property test (tests/property/test_report_aggregates.py) once found a loss of exactly 787,518.125 printed .13 by one
and .12 by the other."""

from __future__ import annotations

import math

import pytest

from bot.domain.reports import ReportRow, Summary
from bot.render.report import row_record, to_csv, to_table

NONE = Summary(0, None, None, None)


def row(expected: float, realised: float, effectiveness: float | None, ttr_mean: float | None = None) -> ReportRow:
    return ReportRow("checkout", 0, 2, NONE, Summary(2, ttr_mean, None, None), 1, expected, realised, effectiveness)


@pytest.mark.parametrize("exact", [787_518.125, 0.005, 12.345, 1_500_000.0, 2.675])
def test_a_loss_a_bit_either_side_of_a_half_cent_prints_the_same(exact: float) -> None:
    below, above = math.nextafter(exact, -math.inf), math.nextafter(exact, math.inf)
    printed = {to_csv([row(1.0, loss, None)]) for loss in (below, exact, above)}
    assert len(printed) == 1, printed


def test_effectiveness_and_durations_a_bit_either_side_of_their_last_place_print_the_same() -> None:
    for exact, field in ((0.47505, "effectiveness"), (1417.55, "ttr_mean_s")):
        records = [row_record(row(1.0, 1.0, value if field == "effectiveness" else None,
                                  value if field == "ttr_mean_s" else None))[field]
                   for value in (math.nextafter(exact, -math.inf), exact, math.nextafter(exact, math.inf))]
        assert len(set(records)) == 1, (field, records)


def test_a_loss_still_rounds_to_the_cent() -> None:
    record = row_record(row(1_500_000.0, 787_518.126, 0.47498791))
    assert (record["expected_loss"], record["realised_loss"], record["effectiveness"]) == (1_500_000.0, 787_518.13,
                                                                                            0.475)


def test_the_table_prints_a_figure_a_bit_either_side_of_its_last_place_the_same() -> None:
    for exact_effectiveness, exact_mean in ((0.125, 90.5), (0.995, 1417.5)):
        tables = {to_table([row(1.0, 1.0, effectiveness, mean)])
                  for effectiveness in (math.nextafter(exact_effectiveness, -1), exact_effectiveness,
                                        math.nextafter(exact_effectiveness, 2))
                  for mean in (math.nextafter(exact_mean, 0), exact_mean, math.nextafter(exact_mean, 1e9))}
        assert len(tables) == 1, tables
