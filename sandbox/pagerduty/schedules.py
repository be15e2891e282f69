"""PagerDuty schedules for the emulator: layers, restrictions and overrides, and who is on call when.

Follows PagerDuty's documented model: a layer rotates through its users every `rotation_turn_length_seconds` counted
from `rotation_virtual_start`, is in force from `start` (until `end`), and, when it has restrictions, only covers
the restricted windows (daily: every day from `start_time_of_day` for `duration_seconds`; weekly: from that time on
ISO weekday `start_day_of_week`). Later layers take precedence over earlier ones; overrides take precedence over all.
Rotation hand-offs and restrictions are wall-clock times in the schedule's zone, so a 09:00 hand-off stays at 09:00
across daylight-saving changes, as in PagerDuty.

`render(since, until)` gives the final schedule's entries (the "final_schedule.rendered_schedule_entries" of
`GET /schedules/{id}?since=&until=`), clipped to the range, adjacent equal entries merged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.catalogue import SandboxSchedule
from bot.domain.handover import local_instant
from sandbox.pagerduty.basics import stable_id

# The longest range rendered at once, as PagerDuty limits on-call queries (90 days).
MAX_RANGE = timedelta(days=90)


@dataclass(frozen=True)
class Restriction:
    type: str  # "daily_restriction" | "weekly_restriction"
    start_time_of_day: time
    duration: timedelta
    start_day_of_week: int | None = None  # ISO, 1 = Monday; weekly only

    def windows(self, since: datetime, until: datetime, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """The restriction's windows overlapping [since, until), as aware instants."""
        step = timedelta(days=1 if self.type == "daily_restriction" else 7)
        day = since.astimezone(tz).date() - step - self.duration  # a window that began earlier may still run
        last = until.astimezone(tz).date()
        if self.type == "weekly_restriction":
            day -= timedelta(days=(day.isoweekday() - (self.start_day_of_week or 1)) % 7)
        while day <= last:
            start = _local_instant(datetime.combine(day, self.start_time_of_day), tz)
            end = _local_instant(datetime.combine(day, self.start_time_of_day) + self.duration, tz)
            if end > since and start < until:
                yield start, end
            day += step


@dataclass(frozen=True)
class Layer:
    name: str
    start: datetime
    rotation_virtual_start: datetime
    turn: timedelta
    user_ids: tuple[str, ...]
    restrictions: tuple[Restriction, ...] = ()
    end: datetime | None = None
    id: str = ""

    def on_call(self, moment: datetime, tz: ZoneInfo) -> str | None:
        """The user this layer puts on call at `moment`, or None (not in force, restricted, or no users)."""
        if not self.user_ids or moment < self.start or (self.end is not None and moment >= self.end):
            return None
        if self.restrictions and not any(
            start <= moment < end
            for r in self.restrictions for start, end in r.windows(moment, moment + timedelta(seconds=1), tz)
        ):
            return None
        return self.user_ids[self._turn(moment, tz) % len(self.user_ids)]

    def _turn(self, moment: datetime, tz: ZoneInfo) -> int:
        """The rotation's turn at `moment`: counted on the local clock, each hand-off at the first occurrence of its
        local time. In the hour repeated when clocks go back, the clock reads a time before a hand-off that has
        already happened: the turn is the one that hand-off began."""
        origin = _wall(self.rotation_virtual_start, tz)
        turn = (_wall(moment, tz) - origin) // self.turn
        while _local_instant(origin + (turn + 1) * self.turn, tz) <= moment:
            turn += 1
        while _local_instant(origin + turn * self.turn, tz) > moment:
            turn -= 1
        return turn

    def changes(self, since: datetime, until: datetime, tz: ZoneInfo) -> Iterator[datetime]:
        """Every instant in (since, until) at which this layer's on-call may change."""
        for edge in (self.start, self.end):
            if edge is not None and since < edge < until:
                yield edge
        origin = _wall(self.rotation_virtual_start, tz)
        first = (_wall(since, tz) - origin) // self.turn + 1
        last = (_wall(until, tz) - origin) // self.turn
        # One turn more each side, kept only within the range: in an hour repeated when clocks go back, the clock
        # reads a wall time earlier than a hand-off already past.
        for n in range(first - 1, last + 2):
            hand_off = _local_instant(origin + n * self.turn, tz)
            if since < hand_off < until:
                yield hand_off
        for restriction in self.restrictions:
            for start, end in restriction.windows(since, until, tz):
                yield from (edge for edge in (start, end) if since < edge < until)


@dataclass(frozen=True)
class Override:
    id: str
    start: datetime
    end: datetime
    user_id: str


@dataclass(frozen=True)
class Entry:
    start: datetime
    end: datetime
    user_id: str


@dataclass
class Schedule:
    id: str
    name: str
    time_zone: str
    layers: list[Layer]
    description: str = ""
    overrides: list[Override] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def on_call(self, moment: datetime) -> str | None:
        """Who the final schedule puts on call at `moment`: the latest override covering it, else the highest layer
        with someone on."""
        for override in reversed(self.overrides):
            if override.start <= moment < override.end:
                return override.user_id
        for layer in reversed(self.layers):
            user = layer.on_call(moment, self.zone)
            if user is not None:
                return user
        return None

    def render(self, since: datetime, until: datetime) -> list[Entry]:
        """The final schedule's entries over [since, until): clipped to it, adjacent equal entries merged."""
        if until <= since:
            return []
        tz = self.zone
        edges = {since, until}
        for layer in self.layers:
            edges.update(layer.changes(since, until, tz))
        for override in self.overrides:
            edges.update(edge for edge in (override.start, override.end) if since < edge < until)
        instants = sorted(edges)
        entries: list[Entry] = []
        for start, end in pairwise(instants):
            user = self.on_call(start)
            if user is None:
                continue
            if entries and entries[-1].user_id == user and entries[-1].end == start:
                entries[-1] = Entry(entries[-1].start, end, user)
            else:
                entries.append(Entry(start, end, user))
        return entries

    def users(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            seen.update(dict.fromkeys(layer.user_ids))
        return list(seen)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    """Wall-clock time in the zone, naive: rotation turns count local time, so hand-offs keep their local hour."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _local_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a local wall time, by the same rule as the bot's handovers: an ambiguous time is its first
    occurrence, a time in a spring-forward gap the first instant after the gap."""
    return local_instant(wall.date(), wall.time(), tz).astimezone(tz)


def seeded_schedule(seed: SandboxSchedule, user_ids: dict[str, str]) -> Schedule:
    """A schedule from the catalogue's sandbox section; `user_ids` maps lower-case email → PagerDuty user id."""
    missing = [e for layer in seed.layers for e in layer.users if e.lower() not in user_ids]
    if missing:
        raise ValueError(f"sandbox.schedules {seed.id}: {missing} are not PagerDuty people in sandbox.people")
    return Schedule(
        id=seed.id, name=seed.name, time_zone=seed.time_zone,
        layers=[
            Layer(name=layer.name, start=parse_time(layer.start),
                  rotation_virtual_start=parse_time(layer.rotation_virtual_start),
                  turn=timedelta(seconds=layer.rotation_turn_length_seconds),
                  user_ids=tuple(user_ids[e.lower()] for e in layer.users),
                  restrictions=tuple(restriction(r.type, r.start_time_of_day, r.duration_seconds,
                                                 r.start_day_of_week) for r in layer.restrictions),
                  id=stable_id("P", f"layer:{seed.id}:{n}"))
            for n, layer in enumerate(seed.layers)
        ],
    )


def restriction(kind: str, start_time_of_day: str, duration_seconds: int, start_day_of_week: int | None) -> Restriction:
    return Restriction(kind, time.fromisoformat(start_time_of_day), timedelta(seconds=duration_seconds),
                       start_day_of_week)


def parse_time(text: str) -> datetime:
    """An ISO 8601 instant as PagerDuty accepts it; naive times are refused (PagerDuty would read them as UTC,
    which hides mistakes in a sandbox)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; write it like 2026-01-05T09:00:00+00:00")
    return moment
