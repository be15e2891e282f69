"""On-call handover: when a rota's shifts change, which handover is due now, and what the post says.

Pure and clock-free: every function takes the time it reasons about. The scheduler adapter asks `due_handover` each
minute (and at start-up), posts at most once per `shift_key` (the store is unique on it, so a restart or two
overlapping schedules cannot post twice) and gathers what the post says with `handover_report`, as data:
bot/render/handover.py words it for Slack.

Handover times are 5-field cron expressions, restricted to what a rota needs (anything else is a ValueError that
names the expression and the supported subset):

    minute  hour  day-of-month  month  day-of-week
    0,30    9,17  *             *      mon-fri

- minute and hour: a number or a comma list of numbers (no `*`, ranges or steps: a handover is at a fixed time);
- day of month and month: `*` only;
- day of week: `*`, a day, a range, or a comma list of them; days are numbers 0-7 (0 and 7 are Sunday, as in
  standard cron) or names `sun`..`sat`. Prefer names: APScheduler's own numbering starts at Monday=0.

Times are wall-clock times in the rota's IANA time zone, so a 09:00 Europe/London handover is 09:00 local all year.
Across daylight-saving changes no handover is skipped or doubled: a local time that does not exist (01:30 on the
spring-forward day) is moved to the first instant after the gap (02:00 BST); an ambiguous one (01:30 on the
autumn day) is taken once, at its first occurrence (fold=0, BST).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.events import Person
from bot.domain.handover_times import DAY_NAMES as DAY_NAMES
from bot.domain.handover_times import SUPPORTED as SUPPORTED
from bot.domain.handover_times import HandoverTimes as HandoverTimes
from bot.domain.handover_times import zone as zone
from bot.domain.incident import Incident, Status

# A boundary is looked for this far back/ahead: at least one day a week always has one, and a zone may skip a day.
SEARCH_WINDOW = timedelta(days=15)
ON_TIME = timedelta(minutes=1)


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def shift_boundaries(times: HandoverTimes, start: datetime, end: datetime) -> list[datetime]:
    """Every handover instant in [start, end), as aware UTC datetimes, earliest first, each once."""
    _aware("start", start)
    _aware("end", end)
    tz = zone(times.tz)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date() + timedelta(days=1)
    found: set[datetime] = set()
    while day <= last_day:
        for at in times.local_times(day.weekday()):
            instant = local_instant(day, at, tz)
            if start <= instant < end:
                found.add(instant)
        day += timedelta(days=1)
    return sorted(found)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: fold=0 when ambiguous, the first instant after the gap when missing."""
    local = datetime.combine(day, at, tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap, fold=1 reads the wall time with the new offset (an instant before the change) and fold=0 with the old
    # one (after it): the change lies between. zoneinfo does not expose transitions, so find it to the second.
    before, after = local.replace(fold=1).astimezone(UTC), instant
    new_offset = after.astimezone(tz).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(tz).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return before + timedelta(seconds=high)


def previous_boundary(times: HandoverTimes, now: datetime) -> datetime:
    """The latest handover at or before `now`: the start of the shift running at `now`."""
    boundaries = shift_boundaries(times, now - SEARCH_WINDOW, now + timedelta(microseconds=1))
    if not boundaries:
        raise ValueError(f"no handover in the {SEARCH_WINDOW.days} days before {now.isoformat()}")
    return boundaries[-1]


def next_boundary(times: HandoverTimes, now: datetime) -> datetime:
    """The earliest handover strictly after `now`: the end of the shift running at `now`."""
    boundaries = shift_boundaries(times, now + timedelta(microseconds=1), now + SEARCH_WINDOW)
    if not boundaries:
        raise ValueError(f"no handover in the {SEARCH_WINDOW.days} days after {now.isoformat()}")
    return boundaries[0]


def shift_key(rota_id: str, boundary: datetime) -> str:
    """The exactly-once key of one rota's handover at one boundary, e.g. "basket:2026-11-27T09:00:00+00:00".

    Written in UTC, so the same instant gives the same key whatever zone it is expressed in, across restarts."""
    _aware("boundary", boundary)
    if not rota_id:
        raise ValueError("rota id must not be empty")
    return f"{rota_id}:{boundary.astimezone(UTC).isoformat()}"


@dataclass(frozen=True)
class OnCallChange:
    """Who was on call as the covered shift ended and who is on at the boundary (PagerDuty user ids and names)."""

    outgoing: tuple[tuple[str, str], ...]
    incoming: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Shift:
    """The span a handover reports on: from `start` to `end`; `covered_until` is when its last covered part ended
    (the outgoing engineer's last moment on call) — `end`, unless out-of-hours boundaries were skipped."""

    start: datetime
    end: datetime
    covered_until: datetime


@dataclass(frozen=True)
class Due:
    """A handover to post now: the shift boundary it is for, and whether it is late (post it with "(late)")."""

    boundary: datetime
    late: bool


def due_handover(times: HandoverTimes, now: datetime, last_posted: datetime | None, grace: timedelta) -> Due | None:
    """Which handover, if any, to post at `now`.

    Only the latest boundary at or before `now` is considered (when the bot was down across several, the older
    ones are history). It is due unless it was already posted — `last_posted` is the boundary of the last scheduled
    post (None: never posted; on-demand posts do not count) — or it is more than `grace` old, in which case it is
    skipped. Posted more than a minute after its boundary, it is late. A restart inside the handover minute finds
    the same boundary and, once it is posted, `last_posted` equal to it: nothing is posted twice.
    """
    _aware("now", now)
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    boundary = previous_boundary(times, now)
    if last_posted is not None and last_posted >= boundary:
        return None
    if now - boundary > grace:
        return None
    return Due(boundary, late=posted_late(boundary, now))


def posted_late(boundary: datetime, posted_at: datetime) -> bool:
    """Whether a handover posted at `posted_at` is late: more than a minute after its boundary."""
    return posted_at - boundary > ON_TIME


def said_late(boundary: datetime, went_out: datetime, claimed_late: bool) -> bool:
    """Whether a handover that went out at `went_out` says "(late)": claimed late, or posted late — but never one
    that went out before its boundary. The claim's clock is not always the one that says when it went out (Slack's
    ts, read back after a lost answer): a clock ahead of Slack's, or put back since the claim, claimed it minutes late
    while Slack says it went out early, and a lateness below zero is not late."""
    return went_out >= boundary and (claimed_late or posted_late(boundary, went_out))


@dataclass(frozen=True)
class ShiftIncident:
    """An incident triggered during the shift, with its figures as of the shift's end (None: not yet)."""

    incident: Incident
    time_to_acknowledge: timedelta | None
    time_to_resolve: timedelta | None


@dataclass(frozen=True)
class Note:
    """A note left for the handover (`/incident handover-note`): what it says and who wrote it."""

    text: str
    author: str


@dataclass(frozen=True)
class HandoverReport:
    """What one handover post says, as data (bot/render/handover.py words it). `outgoing`/`incoming` are who hands
    over to whom (PagerDuty users, by id: two engineers may share a name), None when they could not be fetched from
    PagerDuty; `out_of_hours` is None when the rota has no working hours (nothing is "out of hours"); `pending` lines
    say what is still waiting, in plain words."""

    rota_name: str
    shift_start: datetime
    shift_end: datetime
    tz: str
    outgoing: tuple[Person, ...] | None
    incoming: tuple[Person, ...] | None
    open_now: tuple[Incident, ...]
    during_shift: tuple[ShiftIncident, ...]
    out_of_hours: tuple[Incident, ...] | None
    notes: tuple[Note, ...]
    pending: tuple[str, ...]
    # Open at the shift's start and resolved during it (handed over open, fixed on this shift): in neither list above.
    resolved_from_before: tuple[Incident, ...] = ()


def handover_report(rota_name: str, shift_start: datetime, shift_end: datetime, outgoing: Sequence[Person] | None,
                    incoming: Sequence[Person] | None, incidents: Sequence[Incident], notes: Sequence[Note],
                    pending: Sequence[str], working_hours: tuple[time, time] | None, tz: str) -> HandoverReport:
    """The handover of the shift [shift_start, shift_end), as things stood at shift_end.

    Open now: triggered before the shift's end and not resolved by then. During the shift: triggered in
    [shift_start, shift_end). Out of hours: those of the shift triggered, in the rota's zone, at a weekend or on a
    weekday outside [working start, working end). Resolved from before: triggered before the shift, resolved in it."""
    _aware("shift_start", shift_start)
    _aware("shift_end", shift_end)
    rota_zone = zone(tz)
    by_trigger = sorted(incidents, key=lambda incident: (incident.triggered_at, incident.number))
    during = [i for i in by_trigger if shift_start <= i.triggered_at < shift_end]
    return HandoverReport(
        rota_name=rota_name, shift_start=shift_start, shift_end=shift_end, tz=tz,
        outgoing=None if outgoing is None else tuple(outgoing),
        incoming=None if incoming is None else tuple(incoming),
        open_now=tuple(i for i in by_trigger if i.triggered_at < shift_end and _open_at(i, shift_end)),
        during_shift=tuple(ShiftIncident(i, _elapsed(i, i.acknowledged_at, shift_end),
                                         _elapsed(i, i.resolved_at, shift_end)) for i in during),
        out_of_hours=None if working_hours is None else tuple(
            i for i in during if out_of_hours(i.triggered_at.astimezone(rota_zone), working_hours)),
        notes=tuple(notes), pending=tuple(pending),
        resolved_from_before=tuple(i for i in by_trigger if i.triggered_at < shift_start and i.resolved_at is not None
                                   and shift_start <= i.resolved_at < shift_end),
    )


def acknowledged_by(incident: Incident, moment: datetime) -> bool:
    """Whether the incident stood acknowledged at `moment` (a handover reports things as they stood then):
    acknowledged by then, and not put back to triggered since — reassigned (to the next shift's engineer, say) or its
    acknowledgement timed out — as PagerDuty's state as of `moment` or earlier says. (Put back after `moment`, a late
    handover cannot tell, and says acknowledged.)"""
    if incident.acknowledged_at is None or incident.acknowledged_at > moment:
        return False
    return not (incident.status is Status.TRIGGERED and incident.state_as_of <= moment)


def _open_at(incident: Incident, moment: datetime) -> bool:
    if incident.resolved_at is None:
        # First seen already resolved, PagerDuty did not say when: it is not open.
        return incident.status is not Status.RESOLVED
    return incident.resolved_at > moment


def _elapsed(incident: Incident, reached: datetime | None, moment: datetime) -> timedelta | None:
    if reached is None or reached > moment:
        return None
    return max(reached - incident.triggered_at, timedelta(0))


def out_of_hours(local: datetime, working_hours: tuple[time, time]) -> bool:
    """Whether a local time is out of hours: a weekend, or a weekday outside [opens, closes)."""
    opens, closes = working_hours
    return local.weekday() >= 5 or not opens <= local.time() < closes


# -- a busy shift: what to show first --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftCounts:
    """How the shift's incidents stood at its end, counted (the post's summary line when it cannot list them all)."""

    triggered: int
    high_urgency: int
    resolved: int
    still_open: int
    unacknowledged: int  # still open and never acknowledged


def shift_counts(report: HandoverReport) -> ShiftCounts:
    during = report.during_shift
    return ShiftCounts(
        triggered=len(during),
        high_urgency=sum(1 for s in during if s.incident.urgency == "high"),
        resolved=sum(1 for s in during if s.time_to_resolve is not None),
        still_open=sum(1 for s in during if s.time_to_resolve is None),
        unacknowledged=sum(1 for s in during if s.time_to_acknowledge is None and s.time_to_resolve is None),
    )


def most_pressing_open(report: HandoverReport) -> list[Incident]:
    """The incidents open at the shift's end, the most pressing first: high urgency, then not yet acknowledged,
    then the longest open (the next shift takes these over; with hundreds open, it reads the first few)."""
    end = report.shift_end
    return sorted(report.open_now, key=lambda i: (i.urgency != "high", acknowledged_by(i, end), i.triggered_at,
                                                   i.number))


def most_pressing_during(report: HandoverReport) -> list[ShiftIncident]:
    """The shift's incidents, the most pressing first: high urgency, then still open, then the longest (open so far,
    or taken to resolve)."""
    end = report.shift_end
    return sorted(report.during_shift, key=lambda s: (
        s.incident.urgency != "high", s.time_to_resolve is not None,
        -(s.time_to_resolve if s.time_to_resolve is not None else end - s.incident.triggered_at).total_seconds(),
        s.incident.number))
