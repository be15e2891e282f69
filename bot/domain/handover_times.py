"""A rota's handover times (`HandoverTimes`): 5-field cron expressions restricted to what a rota needs, read in its
IANA time zone (the subset and its error messages are described in bot/domain/handover.py, which re-exports these).
Its own module, without the incident model, so that validating a catalogue does not load the domain's incidents.
Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SUPPORTED = ("supported: 'MINUTE HOUR * * DAYS' with minute and hour as numbers or comma lists (e.g. '0,30 9'), "
             "day of month and month '*', and days '*', a day, a range or a comma list of them "
             "(0-7 with 0 and 7 Sunday, or sun..sat, e.g. '1-5' or 'mon-fri')")
DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


@dataclass(frozen=True)
class HandoverTimes:
    """A rota's handover times: cron expressions (the subset above) read in the IANA time zone `tz`."""

    cron: tuple[str, ...]
    tz: str
    # Local handover times for each weekday, Monday=0 (derived from `cron`).
    _by_weekday: tuple[tuple[time, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.cron:
            raise ValueError(f"a rota needs at least one handover time; {SUPPORTED}")
        zone(self.tz)
        by_weekday: list[set[time]] = [set() for _ in range(7)]
        for expression in self.cron:
            minutes, hours, weekdays = _parse(expression)
            for weekday in weekdays:
                by_weekday[weekday].update(time(h, m) for h in hours for m in minutes)
        object.__setattr__(self, "_by_weekday", tuple(tuple(sorted(times)) for times in by_weekday))

    def local_times(self, weekday: int) -> tuple[time, ...]:
        """The local handover times on a weekday (Monday=0), earliest first."""
        return self._by_weekday[weekday]


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:  # OSError: "Europe" (a folder), a name too long
        raise ValueError(f"unknown time zone {tz!r}: use an IANA name such as 'Europe/London'") from error


def _parse(expression: str) -> tuple[list[int], list[int], set[int]]:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"handover time {expression!r}: expected 5 fields, got {len(fields)}; {SUPPORTED}")
    minute, hour, day_of_month, month, day_of_week = fields
    if day_of_month != "*" or month != "*":
        raise ValueError(f"handover time {expression!r}: day of month and month must be '*'; {SUPPORTED}")
    return (_numbers(expression, "minute", minute, 59), _numbers(expression, "hour", hour, 23),
            _weekdays(expression, day_of_week))


def _numbers(expression: str, name: str, text: str, highest: int) -> list[int]:
    values = []
    for item in text.split(","):
        if not (item.isascii() and item.isdigit()) or int(item) > highest:
            raise ValueError(f"handover time {expression!r}: {name} {text!r} is not a number 0-{highest} "
                             f"or a comma list of them; {SUPPORTED}")
        values.append(int(item))
    return values


def _weekdays(expression: str, text: str) -> set[int]:
    """Python weekdays (Monday=0) named by a cron day-of-week field."""
    if text == "*":
        return set(range(7))
    days: set[int] = set()
    for item in text.split(","):
        first, _, last = item.partition("-")
        low = _day(expression, first, end=False)
        high = _day(expression, last, end=True) if last else low
        if high < low:
            raise ValueError(f"handover time {expression!r}: day range {item!r} runs backwards; {SUPPORTED}")
        days.update((cron_day - 1) % 7 for cron_day in range(low, high + 1))
    return days


def _day(expression: str, text: str, *, end: bool) -> int:
    name = text.lower()
    if name in DAY_NAMES:
        # "sat-sun" means Saturday and Sunday: Sunday ends a range as 7.
        return 7 if end and name == "sun" else DAY_NAMES[name]
    if text.isascii() and text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"handover time {expression!r}: day {text!r} is not 0-7 or sun..sat; {SUPPORTED}")
