"""The report's tally from cells (bot/domain/report_totals.py): a cell's incidents with a loss are counted against
one threshold per band window (`first_loss_us`), which must be exactly where IncidentFacts.with_loss's test turns
true; and a group's percentiles come from all its cells' durations, whatever order a store hands them in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.report_totals import MICROS, CellPlace, IncidentCell, ReportTallies, first_loss_us
from bot.domain.reports import IncidentFacts, ReportRow, build_report

windows = st.one_of(st.sampled_from([45.0, 240.0, 420.0, 0.1, 1e-9, 7.3]),
                    st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False))


def lost(us: int, window: float) -> bool:
    """IncidentFacts.with_loss's test, on a restore time of `us` microseconds."""
    triggered = datetime(2021, 1, 1, tzinfo=UTC)
    return IncidentFacts("I", "s", None, None, triggered, None, triggered + timedelta(microseconds=us),
                         exposure=1.0, band_window_minutes=window).with_loss


@given(windows)
def test_the_first_loss_is_where_the_loss_test_turns_true(window: float) -> None:
    first = first_loss_us(window)
    assert first / MICROS / 60.0 / window > 1.0
    assert not (first - 1) / MICROS / 60.0 / window > 1.0


@given(st.sampled_from([45.0, 240.0, 420.0, 7.3]), st.integers(-10, 10))
def test_durations_at_the_window_are_counted_as_the_reference_counts_them(window: float, step: int) -> None:
    near = round(window * 60 * MICROS) + step
    assert (near >= first_loss_us(window)) == lost(near, window)


PLACE = CellPlace("svc", "team", "domain", 500_000.0, 45.0, "product teams", None, 2021, False)
TRIGGERED = datetime(2021, 1, 1, tzinfo=UTC)


def tallied(cells: list[list[int]]) -> ReportRow:
    """The one row of a service whose cells (one a month) hold these restore times (acknowledged as fast)."""
    tallies = ReportTallies(["service"], lambda key: PLACE)
    tallies.cells([IncidentCell(("P1", None, f"2021-{month:02d}", 0), len(durations), durations, durations)
                   for month, durations in enumerate(cells, start=1)], [])
    row, = tallies.rows("service")
    return row


@given(st.lists(st.lists(st.integers(0, 10**10), min_size=1, max_size=30), min_size=1, max_size=5), st.randoms())
def test_a_groups_figures_are_the_references_in_whatever_order_its_cells_come(cells: list[list[int]],
                                                                              rng: Random) -> None:
    shuffled = [rng.sample(durations, len(durations)) for durations in cells]
    facts = [IncidentFacts(f"I{n}", "svc", "team", "domain", TRIGGERED, TRIGGERED + timedelta(microseconds=us),
                           TRIGGERED + timedelta(microseconds=us), exposure=500_000.0, band_window_minutes=45.0)
             for n, us in enumerate(us for durations in cells for us in durations)]
    reference, = build_report(facts, [], "service")
    for row in (tallied(cells), tallied(shuffled)):
        assert (row.incidents, row.incidents_with_loss) == (reference.incidents, reference.incidents_with_loss)
        for ours, theirs in ((row.tta, reference.tta), (row.ttr, reference.ttr)):
            assert (ours.count, ours.p50, ours.p90) == (theirs.count, theirs.p50, theirs.p90)
