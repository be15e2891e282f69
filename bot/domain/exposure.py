"""Financial exposure bands: how a service's maximum financial exposure sets its availability target and on-call.

A service declares its maximum financial exposure as an amount lost within a window of downtime ("£500K in 4h").
Bands are configuration (the catalogue's `exposure_bands`), ordered from least to most severe; each caps the loss a
service may cause within the band's own window. Matching rule:

    A service with exposure (A in T) can lose, within a band's window W, at most A * min(1, W / T) — its loss is taken
    to accrue evenly until it reaches A at T. The service belongs to the first (least severe) band where that loss
    is ≤ the band's amount. A service no band holds is "above the highest band": it gets the highest band's targets
    and is flagged, because the model says nothing about it.

So "£500K in 4h" sits in the £500K-in-4h band exactly, "£40K in 2h" in the £50K-in-7h band, and "£1M in 30m" is
above a highest band of "£750K in 45m". Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# Who is on call at a level: the owning team's rota, the product domain's rota, or nobody.
Level = Literal["team", "domain", "none"]
MINUTES_PER_30_DAYS = 30 * 24 * 60


@dataclass(frozen=True)
class Band:
    """One exposure band: services losing at most `amount` within `window_minutes` get these targets."""

    name: str
    amount: float
    window_minutes: float
    availability: float  # percent, e.g. 99.5
    working_hours: Level
    out_of_hours: Level

    @property
    def error_budget_minutes(self) -> float:
        """Downtime the availability target allows per 30 days."""
        return error_budget_minutes(self.availability)


@dataclass(frozen=True)
class BandMatch:
    band: Band
    above_highest: bool


def error_budget_minutes(availability: float) -> float:
    return round((100.0 - availability) / 100.0 * MINUTES_PER_30_DAYS, 1)


def loss_within(amount: float, window_minutes: float, minutes: float) -> float:
    """The most a service with exposure (amount in window_minutes) loses in `minutes` of downtime."""
    return amount * min(1.0, minutes / window_minutes)


def match_band(amount: float, window_minutes: float, bands: Sequence[Band]) -> BandMatch:
    """The band a service's exposure falls in (see the module docstring for the rule)."""
    if not bands:
        raise ValueError("no exposure bands are configured")
    if amount < 0 or window_minutes <= 0:
        raise ValueError(f"exposure must be a non-negative amount in a positive window, got {amount} in "
                         f"{window_minutes} min")
    for band in bands:
        if loss_within(amount, window_minutes, band.window_minutes) <= band.amount:
            return BandMatch(band, above_highest=False)
    return BandMatch(bands[-1], above_highest=True)
