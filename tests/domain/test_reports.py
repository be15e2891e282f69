"""The report's figures, table-driven: percentiles, time to acknowledge/restore, loss and effectiveness, grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.reports import (
    OPERATIONS,
    Deploy,
    IncidentFacts,
    build_report,
    effectiveness,
    monthly_trend,
    percentile,
    summarise,
)

T0 = datetime(2021, 3, 1, 10, 0, tzinfo=UTC)


def incident(ttr_min: float | None, *, tta_min: float | None = 5, service: str = "checkout",
             team: str | None = "payments", domain: str | None = "retail", exposure: float | None = 750_000,
             window: float | None = 45, at: datetime = T0, ident: str = "P1") -> IncidentFacts:
    return IncidentFacts(ident, service, team, domain, at,
                         at + timedelta(minutes=tta_min) if tta_min is not None else None,
                         at + timedelta(minutes=ttr_min) if ttr_min is not None else None, exposure, window)


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([], 50, None),
    ([7.0], 50, 7.0),
    ([7.0], 90, 7.0),
    ([1.0, 2.0], 50, 1.0),                        # ⌈0.5 x 2⌉ = 1st
    ([1.0, 2.0], 90, 2.0),                        # ⌈0.9 x 2⌉ = 2nd
    ([4.0, 1.0, 3.0, 2.0], 50, 2.0),              # sorted first
    ([float(v) for v in range(1, 11)], 90, 9.0),  # ⌈9⌉ = 9th of 10
    ([float(v) for v in range(1, 12)], 90, 10.0),  # ⌈9.9⌉ = 10th of 11
    ([float(v) for v in range(1, 11)], 100, 10.0),
])
def test_percentiles_are_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


@pytest.mark.parametrize("p", [0, -1, 101])
def test_a_percentile_outside_0_to_100_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="percentile must be in"):
        percentile([1.0], p)


def test_summary_of_nothing_is_empty_and_of_values_is_mean_p50_p90() -> None:
    assert summarise([]).mean is None and summarise([]).count == 0
    summary = summarise([60.0, 120.0, 600.0])
    assert (summary.count, summary.mean, summary.p50, summary.p90) == (3, 260.0, 120.0, 600.0)


@pytest.mark.parametrize(("ttr_min", "window", "realised", "with_loss"), [
    (0, 45, 0.0, False),
    (22.5, 45, 375_000.0, False),     # half a window: half the exposure
    (45, 45, 750_000.0, False),       # exactly the window: restored within it, no loss counted
    (46, 45, 750_000.0 * 46 / 45, True),
    (121.5, 45, 2_025_000.0, True),   # 2.7 windows, uncapped
    (648, 240, 2_025_000.0, True),    # the band's window, not the service's, is what counts
])
def test_expected_and_realised_loss_per_incident(ttr_min: float, window: float, realised: float,
                                                 with_loss: bool) -> None:
    facts = incident(ttr_min, window=window)
    assert facts.expected_loss == 750_000
    assert facts.realised_loss == pytest.approx(realised)
    assert facts.with_loss is with_loss


@pytest.mark.parametrize("facts", [
    incident(None),                       # not restored yet
    incident(30, exposure=None),          # no declared exposure
    incident(30, window=None),            # no band
])
def test_incidents_without_restore_exposure_or_band_carry_no_loss(facts: IncidentFacts) -> None:
    assert facts.expected_loss is None and facts.realised_loss is None and not facts.with_loss


@pytest.mark.parametrize(("incidents", "expected"), [
    ([], None),
    ([incident(None)], None),
    ([incident(0)], 1.0),
    ([incident(45)], 0.0),
    ([incident(121.5)], -1.7),                                   # the seed's operations row: 2.7 windows → -170%
    ([incident(121.5), incident(648, window=240, exposure=500_000)], -1.7),
    ([incident(4.5), incident(40.5)], 0.5),                      # 0.1 and 0.9 windows of the same exposure
    # Weighted by exposure: £750K at 0.2 windows and £50K at 3 windows → 1 - (150K + 150K) / 800K.
    ([incident(9), incident(1260, exposure=50_000, window=420)], 1 - 300_000 / 800_000),
])
def test_effectiveness_is_one_minus_realised_over_expected(incidents: list[IncidentFacts],
                                                           expected: float | None) -> None:
    ratio = effectiveness(incidents)[2]
    assert ratio == (None if expected is None else pytest.approx(expected))


def test_time_to_acknowledge_and_restore() -> None:
    facts = incident(90, tta_min=7)
    assert (facts.tta_seconds, facts.ttr_seconds) == (420.0, 5400.0)
    assert incident(None, tta_min=None).tta_seconds is None


def test_rows_by_team_domain_and_service_with_deploys() -> None:
    incidents = [incident(10, ident="a"), incident(20, ident="b", service="basket-api", team="basket"),
                 incident(30, ident="c", service="orphan", team=None, domain=None, exposure=None)]
    deploys = [Deploy("checkout", "payments", "retail", T0), Deploy("checkout", "payments", "retail", T0),
               Deploy("slots", "delivery", "fulfilment", T0)]
    by_team = {r.group: r for r in build_report(incidents, deploys, "team")}
    assert list(by_team) == ["(no team)", "basket", "delivery", "payments"]
    assert (by_team["payments"].incidents, by_team["payments"].deploys) == (1, 2)
    assert (by_team["delivery"].incidents, by_team["delivery"].deploys) == (0, 1)
    assert by_team["(no team)"].effectiveness is None and by_team["(no team)"].ttr.mean == 1800.0
    by_domain = {r.group: r.incidents for r in build_report(incidents, deploys, "domain")}
    assert by_domain == {"(no domain)": 1, "fulfilment": 0, "retail": 2}
    assert [r.group for r in build_report(incidents, deploys, "service")] == ["basket-api", "checkout", "orphan",
                                                                             "slots"]


def test_periods_put_everything_before_the_teams_took_over_in_one_operations_row() -> None:
    teams_from = datetime(2020, 1, 1, tzinfo=UTC)
    incidents = [incident(121.5, at=datetime(2018, 6, 1, tzinfo=UTC), ident="a"),
                 incident(121.5, at=datetime(2019, 12, 31, 23, tzinfo=UTC), ident="b"),
                 incident(4.5, at=teams_from, ident="c"), incident(9, at=datetime(2021, 5, 1, tzinfo=UTC), ident="d")]
    rows = build_report(incidents, [Deploy("checkout", "payments", "retail", datetime(2019, 1, 1, tzinfo=UTC))],
                        "period", teams_from)
    assert [(r.group, r.incidents, r.deploys) for r in rows] == [(OPERATIONS, 2, 1), ("2020", 1, 0), ("2021", 1, 0)]
    assert rows[0].effectiveness == pytest.approx(-1.7) and rows[0].incidents_with_loss == 2
    by_year = build_report(incidents, [], "year")
    assert [r.group for r in by_year] == ["2018", "2019", "2020", "2021"]


def test_grouping_by_period_without_the_handover_date_or_by_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="teams_from"):
        build_report([], [], "period")
    with pytest.raises(ValueError, match="cannot group by 'colour'"):
        build_report([], [], "colour")  # type: ignore[arg-type]


def test_monthly_trend_is_mean_times_per_month_in_order() -> None:
    trend = monthly_trend([incident(60, tta_min=10, at=datetime(2021, 2, 3, tzinfo=UTC)),
                           incident(20, tta_min=2, at=datetime(2021, 1, 5, tzinfo=UTC)),
                           incident(40, tta_min=4, at=datetime(2021, 1, 20, tzinfo=UTC)),
                           incident(None, tta_min=None, at=datetime(2021, 3, 1, tzinfo=UTC))])
    assert [(p.month, p.mtta, p.mttr) for p in trend] == [("2021-01", 180.0, 1800.0), ("2021-02", 600.0, 3600.0),
                                                        ("2021-03", None, None)]
