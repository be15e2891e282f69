"""How figures and text read in Slack (and in the CLI's tables): durations, exposure windows, money, percentages,
local times, and Slack-safe text (escaping, clipping). The one place for them: every render module words its numbers
here, so a duration or a sum of money reads the same wherever it appears. Pure functions.

Durations come in one shape — the two largest units, "2h 05m" — with keywords for where the callers differ (the
card, the report table and the handover post read the same clock differently; each keeps its reading):

    duration(s)                                         45s · 4m 10s · 2h 05m · 3d 4h       (card, replies)
    duration(s, minute_seconds=False)                   45s · 4m     · 2h 05m · 3d 4h       (handover post)
    duration(s, days=False, zero_minutes=True, rounded=True)
                                                        0m 45s · 4m 10s · 2h 05m · 74h 00m  (report table)

`minutes` is the other wording, for a catalogue's exposure windows and the money line: fractional minutes, spoken
("22.5 min", "1 h 30 min"), as people state how long a service can be down.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

NONE = "—"  # a figure that is not known (yet)
ELLIPSIS = "…"


def duration(seconds: float | None, *, days: bool = True, minute_seconds: bool = True, zero_minutes: bool = False,
             rounded: bool = False) -> str:
    """A short duration in its two largest units: 45s, 4m 10s, 2h 05m, 3d 4h; "—" for None; never negative.

    `days`: past a day, "3d 4h" (False: the hours keep counting, "74h 00m", so a table's rows compare at a glance).
    `minute_seconds`: under an hour, "4m 10s" (False: "4m"). `zero_minutes`: under a minute, "0m 45s" (aligned with
    the longer ones) rather than "45s". `rounded`: to the nearest second (False: the whole seconds passed, as a
    running clock shows)."""
    if seconds is None:
        return NONE
    whole = max(round(seconds) if rounded else int(seconds), 0)
    if whole < 60 and not zero_minutes:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s" if minute_seconds else f"{whole // 60}m"
    if whole < 86400 or not days:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def minutes(value: float) -> str:
    """A span given in minutes, spoken: 45 min, 22.5 min, 4 h, 1 h 30 min."""
    if value < 60:
        return f"{value:g} min"
    hours, rest = divmod(value, 60)
    return f"{hours:.0f} h" + (f" {rest:g} min" if rest else "")


def money(amount: float, currency: str) -> str:
    """£210K, £1.2M, £750 — short, as people say it."""
    if amount >= 999_500:
        return f"{currency}{_trim(amount / 1_000_000)}M"
    if amount >= 1_000:
        return f"{currency}{_trim(amount / 1_000)}K"
    return f"{currency}{amount:.0f}"


def _trim(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or round(value, 1) == round(value) else f"{value:.1f}"


def percent(value: float | None, *, places: int = 3) -> str:
    """`value` percentage points with up to `places` decimals, trailing zeros dropped but one kept: 99.0%, 99.5%,
    99.95% (availability targets). `places=0`: whole percents, -170% (the report's effectiveness). "—" for None."""
    if value is None:
        return NONE
    if places == 0:
        return f"{round(value)}%"  # round(): an int, so a small negative figure reads 0%, not -0%
    text = f"{value:.{places}f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + "%"


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as the rota's people read it on their wall clock: "Fri 27 Nov 09:00"."""
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def escape(text: str) -> str:
    """Slack's three control characters, so a title, name or note cannot inject links, mentions or @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters; a clipped text ends with an ellipsis, so readers know there was more."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS
