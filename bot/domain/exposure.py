"""Financial exposure bands: how a service's maximum financial exposure sets its availability target and on-call,
and how much money an open incident has cost so far.

A service declares its maximum financial exposure as an amount lost within a window of downtime ("£500K in 4h").
Bands are configuration (the catalogue's `exposure_bands`), ordered from least to most severe; each caps the loss a
service may cause within the band's own window. Matching rule:

    A service with exposure (A in T) can lose, within a band's window W, at most A * min(1, W / T) — its loss is taken
    to accrue evenly until it reaches A at T. The service belongs to the first (least severe) band where that loss
    is ≤ the band's amount. A service no band holds is "above the highest band": it gets the highest band's targets
    and is flagged, because the model says nothing about it.

So "£500K in 4h" sits in the £500K-in-4h band exactly, "£40K in 2h" in the £50K-in-7h band, and "£1M in 30m" is
above a highest band of "£750K in 45m". The comparison is exact (rational arithmetic), so a service on a band's
boundary is in that band whatever its numbers' binary rounding.

Loss while an incident is open: the service's exposure amount * time since the trigger ÷ the band's window, capped at
the exposure once the window has passed (the declared maximum is lost). Once resolved, the realised loss is the
reports' (`bot/domain/reports.py`): amount * time to restore ÷ the band's window, not capped — restoring after 2.7
windows realises 2.7 times the exposure — so the card's last figure is the one the reports count. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Literal

# Who is on call at a level: the owning team's rota, the product domain's rota, or nobody.
Level = Literal["team", "domain", "none"]
LEVEL_ORDER: dict[str, int] = {"none": 0, "domain": 1, "team": 2}
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
    """(100 % - target) * 43,200 minutes (30 days), to a tenth of a minute: 99.9 % → 43.2 min."""
    return round((100.0 - availability) / 100.0 * MINUTES_PER_30_DAYS, 1)


def loss_within(amount: float, window_minutes: float, minutes: float) -> float:
    """The most a service with exposure (amount in window_minutes) loses in `minutes` of downtime."""
    return amount * min(1.0, max(0.0, minutes) / window_minutes)


def _fits(amount: float, window_minutes: float, band: Band) -> bool:
    # amount * min(1, W/T) <= band amount, without floating-point rounding deciding a boundary case.
    a, t, w = Fraction(amount), Fraction(window_minutes), Fraction(band.window_minutes)
    return a * min(t, w) <= Fraction(band.amount) * t


def match_band(amount: float, window_minutes: float, bands: Sequence[Band]) -> BandMatch:
    """The band a service's exposure falls in (see the module docstring for the rule)."""
    if not bands:
        raise ValueError("no exposure bands are configured")
    if not (math.isfinite(amount) and math.isfinite(window_minutes)) or amount < 0 or window_minutes <= 0:
        raise ValueError(f"exposure must be a non-negative amount in a positive window, got {amount} in "
                         f"{window_minutes} min")
    for band in bands:
        if _fits(amount, window_minutes, band):
            return BandMatch(band, above_highest=False)
    return BandMatch(bands[-1], above_highest=True)


def band_order_problems(bands: Sequence[Band]) -> list[str]:
    """Why these bands are not ordered from least to most severe (empty when they are), one message per problem,
    naming the band by its position (`exposure_bands[1]`).

    Each band must hold every service the band before it holds, and more (so that "the first band that holds it" is
    the least severe band that does): a later band with a window no longer than the previous one's needs an amount at
    least as large; one with a longer window needs at least the previous amount scaled up by the windows' ratio. Its
    availability target must be higher, and neither on-call level lower (none < domain < team)."""
    problems: list[str] = []
    names = [b.name for b in bands]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(f"exposure_bands[{i}].name: {name!r} is used twice; give each band its own name")
    for i in range(1, len(bands)):
        before, band = bands[i - 1], bands[i]
        where = f"exposure_bands[{i}] ({band.name!r})"
        ratio: Fraction = max(Fraction(1), Fraction(band.window_minutes) / Fraction(before.window_minutes))
        needed = Fraction(before.amount) * ratio
        same = (before.amount, before.window_minutes) == (band.amount, band.window_minutes)
        if same:
            problems.append(f"{where}.max_exposure: the same as {before.name}'s, so no service could ever match "
                            "it; give it a larger amount or a shorter window")
        elif Fraction(band.amount) < needed:
            problems.append(
                f"{where}.max_exposure: must hold every service {before.name} holds (list bands least severe "
                f"first): with a {_minutes(band.window_minutes)} window it needs an amount of at least "
                f"{_amount(float(needed))}")
        if band.availability <= before.availability:
            problems.append(f"{where}.availability: {band.availability} must be higher than {before.name}'s "
                            f"{before.availability} (bands are listed least severe first)")
        for field in ("working_hours", "out_of_hours"):
            level, previous = getattr(band, field), getattr(before, field)
            if LEVEL_ORDER[level] < LEVEL_ORDER[previous]:
                problems.append(f"{where}.{field}: {level!r} is less cover than {before.name}'s {previous!r}; a "
                                "more severe band needs at least as much (none < domain < team)")
    return problems


def _amount(value: float) -> str:
    return f"{value:,.0f}"


def _minutes(value: float) -> str:
    return f"{value:g} min"


@dataclass(frozen=True)
class IncidentExposure:
    """What an open incident puts at stake: its service's exposure amount, and the window of the service's band."""

    currency: str
    amount: float
    window_minutes: float  # the band's window: the loss reaches `amount` when it has passed
    band: str
    above_highest: bool


@dataclass(frozen=True)
class LiveLoss:
    """The loss so far: `loss` after `elapsed_minutes` of downtime; `restored` once the incident is resolved."""

    loss: float
    elapsed_minutes: float
    window_minutes: float
    restored: bool

    @property
    def window_passed(self) -> bool:
        return self.elapsed_minutes >= self.window_minutes

    @property
    def minutes_left(self) -> float:
        return max(0.0, self.window_minutes - self.elapsed_minutes)

    @property
    def minutes_over(self) -> float:
        return max(0.0, self.elapsed_minutes - self.window_minutes)


def live_loss(exposure: IncidentExposure, triggered_at: datetime, now: datetime,
              resolved_at: datetime | None = None) -> LiveLoss:
    """While open: exposure * elapsed since the trigger ÷ band window, capped at the exposure. Once resolved: the
    realised loss, exposure * time to restore ÷ band window, not capped (the reports' definition)."""
    end = resolved_at or now
    elapsed = max(0.0, (end - triggered_at).total_seconds() / 60)
    if resolved_at is not None:
        return LiveLoss(exposure.amount * elapsed / exposure.window_minutes, elapsed, exposure.window_minutes,
                        restored=True)
    return LiveLoss(loss_within(exposure.amount, exposure.window_minutes, elapsed), elapsed,
                    exposure.window_minutes, restored=False)


# About this many card updates show a window's money growing: every minute for a 45-minute window, every ~9 minutes
# for a 7-hour one (Slack's chat.update allows ~50 a minute; a long window need not spend them by the minute).
UPDATES_PER_WINDOW = 45


def money_refresh_due(exposure: IncidentExposure, triggered_at: datetime, now: datetime, job_minutes: float, *,
                      last_shown: datetime | None = None) -> bool:
    """Whether the minute job at `now` should refresh the card: the window's money is still growing (or has just
    stopped) and a step of window ÷ UPDATES_PER_WINDOW (at least the job's interval) was crossed since its last run
    — or, given when the card was `last_shown`, a whole step has passed since (a card passed over when its step came,
    because the job's Slack budget went to cards shown longer ago, gets its turn at a later run)."""
    if not money_at_stake(exposure, triggered_at, now, grace_minutes=job_minutes):
        return False
    step = max(job_minutes, exposure.window_minutes / UPDATES_PER_WINDOW)
    elapsed = (now - triggered_at).total_seconds() / 60
    if elapsed >= exposure.window_minutes or elapsed // step != (elapsed - job_minutes) // step:
        return True
    return last_shown is not None and (now - last_shown).total_seconds() / 60 >= step


def money_at_stake(exposure: IncidentExposure, triggered_at: datetime, now: datetime, grace_minutes: float) -> bool:
    """The loss is still growing (the window runs), or the window passed less than `grace_minutes` ago (one more
    refresh shows that it has)."""
    elapsed = (now - triggered_at).total_seconds() / 60
    return elapsed < exposure.window_minutes + grace_minutes
