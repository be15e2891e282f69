"""Exposure bands: matching at and around every boundary (amount and window), above the highest band, odd input,
the order the bands must be in, error budgets and the loss while an incident is open."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.exposure import (
    Band,
    IncidentExposure,
    band_order_problems,
    error_budget_minutes,
    live_loss,
    match_band,
    money_at_stake,
)

LOW = Band("Low", 50_000, 420, 99.0, "team", "none")
MEDIUM = Band("Medium", 500_000, 240, 99.5, "team", "domain")
HIGH = Band("High", 750_000, 45, 99.9, "team", "team")
SEED = (LOW, MEDIUM, HIGH)
ABOVE = "above"
CENT = 0.01


def band_of(amount: float, window: float) -> str:
    match = match_band(amount, window, SEED)
    return ABOVE if match.above_highest else match.band.name


@pytest.mark.parametrize(("amount", "window", "expected"), [
    # At each band's own window: the amount boundaries.
    (0, 420, "Low"), (50_000, 420, "Low"), (50_000 + CENT, 420, "Medium"),
    (875_000, 420, "Medium"),  # loses exactly £500K within Medium's 4 h
    (875_000 + CENT, 420, "High"),
    (7_000_000, 420, "High"),  # loses exactly £750K within High's 45 min
    (7_000_000 + CENT, 420, ABOVE),
    (50_000, 240, "Low"), (50_000 + CENT, 240, "Medium"), (500_000, 240, "Medium"), (500_000 + CENT, 240, "High"),
    (4_000_000, 240, "High"), (4_000_000 + CENT, 240, ABOVE),
    (50_000, 45, "Low"), (50_000 + CENT, 45, "Medium"), (500_000, 45, "Medium"), (500_000 + CENT, 45, "High"),
    (750_000, 45, "High"), (750_000 + CENT, 45, ABOVE),
    # The window boundaries for a fixed amount: £750K.
    (750_000, 6_300, "Low"), (750_000, 6_300 - CENT, "Medium"),  # 750K * 420/6300 = 50K
    (750_000, 360, "Medium"), (750_000, 360 - CENT, "High"),     # 750K * 240/360 = 500K
    (750_000, 45 + CENT, "High"), (750_000, 1, "High"),
    # £1M: held by High only while its loss within 45 min stays ≤ £750K, i.e. a window of at least 60 min.
    (1_000_000, 60, "High"), (1_000_000, 60 - CENT, ABOVE), (1_000_000, 30, ABOVE),
    # A loss no larger than the lowest band's amount is Low however fast it comes.
    (50_000, 0.001, "Low"), (40_000, 120, "Low"), (1, 1, "Low"),
    # The seed's examples, each exactly on its band.
    (500_000, 240, "Medium"), (750_000, 45, "High"),
])
def test_band_matching_at_and_around_every_boundary(amount: float, window: float, expected: str) -> None:
    assert band_of(amount, window) == expected


def test_above_the_highest_band_gets_the_highest_targets_and_is_flagged() -> None:
    match = match_band(1_000_000, 30, SEED)
    assert match.above_highest and match.band is HIGH


def test_boundaries_are_exact_whatever_the_binary_rounding() -> None:
    # £5.65M in 339 min loses exactly £750K within 45 min (5.65M * 45 / 339), but in floating point
    # 5.65M * (45 / 339) comes out a hair above 750,000: the rule must still put it in High.
    assert 5_650_000 * min(1.0, 45 / 339) > 750_000
    assert band_of(5_650_000, 339) == "High"
    assert band_of(5_650_000 + CENT, 339) == ABOVE


@pytest.mark.parametrize(("amount", "window"), [(-1, 60), (100, 0), (100, -5), (math.nan, 60), (100, math.inf),
                                                (math.inf, 60)])
def test_odd_exposures_are_refused_with_a_reason(amount: float, window: float) -> None:
    with pytest.raises(ValueError, match="non-negative amount in a positive window"):
        match_band(amount, window, SEED)


def test_no_bands_is_an_error() -> None:
    with pytest.raises(ValueError, match="no exposure bands"):
        match_band(1, 1, [])


def test_the_seed_bands_are_in_order() -> None:
    assert band_order_problems(SEED) == []


@pytest.mark.parametrize(("bands", "expected"), [
    ((HIGH, MEDIUM, LOW), "exposure_bands[1] ('Medium').availability: 99.5 must be higher than High's 99.9"),
    ((LOW, Band("Wide", 60_000, 840, 99.5, "team", "none")),
     "exposure_bands[1] ('Wide').max_exposure: must hold every service Low holds (list bands least severe "
     "first): with a 840 min window it needs an amount of at least 100,000"),
    ((LOW, Band("Copy", 50_000, 420, 99.5, "team", "none")), "the same as Low's, so no service could ever match"),
    ((LOW, Band("Less", 500_000, 240, 98.0, "team", "none")), "availability: 98.0 must be higher than Low's 99.0"),
    ((MEDIUM, Band("Thin", 750_000, 45, 99.9, "team", "none")),
     "exposure_bands[1] ('Thin').out_of_hours: 'none' is less cover than Medium's 'domain'"),
    ((LOW, Band("Low", 500_000, 240, 99.5, "team", "none")), "exposure_bands[1].name: 'Low' is used twice"),
])
def test_bands_out_of_order_are_explained(bands: tuple[Band, ...], expected: str) -> None:
    problems = band_order_problems(bands)
    assert any(expected in p for p in problems), problems


def test_a_longer_window_with_a_scaled_amount_is_in_order() -> None:
    assert band_order_problems((LOW, Band("Wide", 100_000, 840, 99.5, "team", "none"))) == []


@pytest.mark.parametrize(("availability", "minutes"), [(99.0, 432.0), (99.5, 216.0), (99.9, 43.2), (99.95, 21.6),
                                                       (99.99, 4.3), (90.0, 4320.0)])
def test_error_budget_is_minutes_per_30_days(availability: float, minutes: float) -> None:
    assert error_budget_minutes(availability) == minutes


T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
CHECKOUT = IncidentExposure("£", 750_000, 45, "High", above_highest=False)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_loss_grows_with_the_time_down_until_the_window_passes() -> None:
    loss = live_loss(CHECKOUT, T0, at(27))
    assert (loss.loss, loss.minutes_left, loss.window_passed, loss.restored) == (450_000, 18, False, False)
    passed = live_loss(CHECKOUT, T0, at(57))
    assert (passed.loss, passed.minutes_over, passed.window_passed) == (750_000, 12, True)
    assert live_loss(CHECKOUT, T0, at(45)).window_passed


def test_the_realised_loss_is_exposure_times_time_to_restore_over_the_band_window() -> None:
    restored = live_loss(CHECKOUT, T0, at(500), resolved_at=at(9))
    assert restored.restored and restored.loss == 150_000 and restored.elapsed_minutes == 9
    # Not capped, as the reports count it: restored after two windows realises twice the exposure.
    assert live_loss(CHECKOUT, T0, at(500), resolved_at=at(90)).loss == 1_500_000
    # The band's window, not the service's: a "£40K in 2h" service in Low (7 h) loses 40K * 210/420 in 3.5 h.
    slow = IncidentExposure("£", 40_000, 420, "Low", above_highest=False)
    assert live_loss(slow, T0, at(210)).loss == 20_000


def test_a_clock_behind_the_trigger_counts_no_loss() -> None:
    assert live_loss(CHECKOUT, T0, at(-3)).loss == 0


def test_money_is_at_stake_while_the_window_runs_and_one_refresh_after() -> None:
    assert money_at_stake(CHECKOUT, T0, at(44.9), grace_minutes=1)
    assert money_at_stake(CHECKOUT, T0, at(45.5), grace_minutes=1)
    assert not money_at_stake(CHECKOUT, T0, at(46), grace_minutes=1)


@pytest.mark.parametrize(("window", "updates_in_first_hour"), [(45, 45), (240, 11), (420, 6)])
def test_the_money_refresh_cadence_follows_the_window(window: float, updates_in_first_hour: int) -> None:
    """Every minute for a 45-minute window (the last one shows it passed); about 45 updates per window otherwise."""
    from datetime import UTC, datetime, timedelta

    from bot.domain.exposure import IncidentExposure, money_refresh_due

    start = datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
    exposure = IncidentExposure(currency="£", amount=100_000, window_minutes=window, band="B", above_highest=False)
    due = [m for m in range(1, 61) if money_refresh_due(exposure, start, start + timedelta(minutes=m), 1)]
    assert len(due) == updates_in_first_hour


def test_a_card_passed_over_at_its_step_is_due_at_a_later_run() -> None:
    """A 7-hour window steps every 420 / 45 ≈ 9.3 minutes; a card the budget passed over at minute 10 is still due
    at minute 11 (shown at the trigger, a whole step ago), and not once it has been shown."""
    from datetime import UTC, datetime, timedelta

    from bot.domain.exposure import IncidentExposure, money_refresh_due

    start = datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
    exposure = IncidentExposure(currency="£", amount=50_000, window_minutes=420, band="Low", above_highest=False)
    minute = start + timedelta(minutes=11)
    assert not money_refresh_due(exposure, start, minute, 1)  # by the step alone: its turn was minute 10
    assert money_refresh_due(exposure, start, minute, 1, last_shown=start)
    assert not money_refresh_due(exposure, start, minute, 1, last_shown=start + timedelta(minutes=10))
