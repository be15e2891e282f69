"""On-call handover: cron subset, shift boundaries across Europe/London's 2026 DST changes, exactly-once keys,
which handover is due, and the report's data (tests/render/test_handover_post.py reads its wording). Pure functions,
table-driven, no fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.handover import (
    Due,
    HandoverTimes,
    ShiftCounts,
    due_handover,
    handover_report,
    most_pressing_during,
    most_pressing_open,
    next_boundary,
    previous_boundary,
    said_late,
    shift_boundaries,
    shift_counts,
    shift_key,
)
from tests.domain.handover_shift import END, INCIDENTS, LONDON, START, WORKING, incident, on_call, utc

WEEKDAYS = HandoverTimes(("0 9 * * mon-fri", "30 17 * * mon-fri"), LONDON)
NIGHTLY = HandoverTimes(("30 1 * * *",), LONDON)


# --- cron subset ---------------------------------------------------------------------------------------------------

# (expression, {python weekday: local times})
VALID = [
    ("0 9 * * 1-5", {d: (time(9),) for d in range(5)}),
    ("0 9 * * mon-fri", {d: (time(9),) for d in range(5)}),
    ("0 9 * * MON-FRI", {d: (time(9),) for d in range(5)}),
    ("30 17 * * *", {d: (time(17, 30),) for d in range(7)}),
    ("0,30 9,17 * * sat", {5: (time(9), time(9, 30), time(17), time(17, 30))}),
    ("0 8 * * 0", {6: (time(8),)}),
    ("0 8 * * 7", {6: (time(8),)}),
    ("0 8 * * 6-7", {5: (time(8),), 6: (time(8),)}),
    ("0 8 * * sat-sun", {5: (time(8),), 6: (time(8),)}),
    ("0 8 * * 0-6", {d: (time(8),) for d in range(7)}),
    ("0 8 * * mon,wed,fri-sat", {0: (time(8),), 2: (time(8),), 4: (time(8),), 5: (time(8),)}),
    ("  0   8 * *   tue ", {1: (time(8),)}),
    ("59 23 * * *", {d: (time(23, 59),) for d in range(7)}),
]


@pytest.mark.parametrize(("expression", "expected"), VALID)
def test_supported_cron_subset(expression: str, expected: dict[int, tuple[time, ...]]) -> None:
    times = HandoverTimes((expression,), LONDON)
    assert {d: times.local_times(d) for d in range(7) if times.local_times(d)} == expected


def test_several_expressions_merge_per_day() -> None:
    assert WEEKDAYS.local_times(0) == (time(9), time(17, 30))
    assert WEEKDAYS.local_times(5) == ()


# (expression, part of the message that says what is wrong)
INVALID = [
    ("0 9 * *", "expected 5 fields"),
    ("0 9 * * 1-5 2026", "expected 5 fields"),
    ("* 9 * * *", "minute '*'"),
    ("*/15 9 * * *", "minute '*/15'"),
    ("0-30 9 * * *", "minute '0-30'"),
    ("60 9 * * *", "minute '60'"),
    ("0 24 * * *", "hour '24'"),
    ("0 9-17 * * *", "hour '9-17'"),
    ("0 9, * * *", "hour '9,'"),
    ("0 -1 * * *", "hour '-1'"),
    ("0 9 1 * *", "day of month and month"),
    ("0 9 * 1 *", "day of month and month"),
    ("0 9 L * *", "day of month and month"),
    ("0 9 * * 8", "day '8'"),
    ("0 9 * * fri-mon", "runs backwards"),
    ("0 9 * * 5-1", "runs backwards"),
    ("0 9 * * monday", "day 'monday'"),
    ("0 9 * * 1-5/2", "day '5/2'"),
    ("0 9 * * mon#1", "day 'mon#1'"),
    ("@daily", "expected 5 fields"),
    ("0 \uff19 * * *", "hour '\uff19'"),  # a fullwidth nine is not a number
]


@pytest.mark.parametrize(("expression", "problem"), INVALID)
def test_unsupported_cron_is_rejected_naming_expression_and_subset(expression: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        HandoverTimes(("0 9 * * *", expression), LONDON)
    message = str(raised.value)
    assert repr(expression) in message
    assert problem in message
    assert "supported:" in message


@pytest.mark.parametrize(("cron", "tz", "problem"), [
    ((), LONDON, "at least one handover time"),
    (("0 9 * * *",), "Europe/Londres", "unknown time zone 'Europe/Londres'"),
    (("0 9 * * *",), "", "unknown time zone"),
])
def test_rota_needs_times_and_a_real_zone(cron: tuple[str, ...], tz: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        HandoverTimes(cron, tz)


# --- boundaries across the 2026 DST changes (29 March: 01:00 GMT -> 02:00 BST; 25 October: 02:00 BST -> 01:00) ---

BOUNDARIES = [
    # Weekday 09:00 and 17:30: the Friday before in GMT, the Monday after in BST; nothing over the weekend.
    (WEEKDAYS, "2026-03-27T00:00", "2026-03-31T00:00",
     ["2026-03-27T09:00", "2026-03-27T17:30", "2026-03-30T08:00", "2026-03-30T16:30"]),
    (WEEKDAYS, "2026-10-23T00:00", "2026-10-27T00:00",
     ["2026-10-23T08:00", "2026-10-23T16:30", "2026-10-26T09:00", "2026-10-26T17:30"]),
    # Daily 01:30: on 29 March 01:30 does not exist, so 02:00 BST (01:00Z), the first instant after the gap.
    (NIGHTLY, "2026-03-27T00:00", "2026-03-31T00:00",
     ["2026-03-27T01:30", "2026-03-28T01:30", "2026-03-29T01:00", "2026-03-30T00:30"]),
    # On 25 October 01:30 happens twice: taken once, the first time (01:30 BST = 00:30Z).
    (NIGHTLY, "2026-10-23T00:00", "2026-10-28T00:00",
     ["2026-10-23T00:30", "2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30", "2026-10-27T01:30"]),
    # 01:00 and 01:30 both fall in the spring gap: both move to 02:00 BST, posted once, not twice.
    (HandoverTimes(("0,30 1 * * *",), LONDON), "2026-03-29T00:00", "2026-03-30T00:00", ["2026-03-29T01:00"]),
    # Half-open: a boundary at start is in, one at end is out.
    (WEEKDAYS, "2026-11-27T09:00", "2026-11-27T17:30", ["2026-11-27T09:00"]),
    (WEEKDAYS, "2026-11-27T09:00", "2026-11-27T09:00", []),
    (WEEKDAYS, "2026-11-28T00:00", "2026-11-30T00:00", []),
]


@pytest.mark.parametrize(("times", "start", "end", "expected"), BOUNDARIES)
def test_shift_boundaries(times: HandoverTimes, start: str, end: str, expected: list[str]) -> None:
    assert shift_boundaries(times, utc(start), utc(end)) == [utc(b) for b in expected]


def test_every_boundary_of_2026_is_local_0900_or_1730_on_a_weekday() -> None:
    boundaries = shift_boundaries(WEEKDAYS, utc("2026-01-01T00:00"), utc("2027-01-01T00:00"))
    local = [b.astimezone(ZoneInfo(LONDON)) for b in boundaries]
    assert {(b.hour, b.minute) for b in local} == {(9, 0), (17, 30)}
    assert all(b.weekday() < 5 for b in local)
    assert all(b.tzinfo is UTC for b in boundaries)
    # 2026 has 261 weekdays: two handovers each, none skipped or doubled by either DST change.
    assert len(boundaries) == len(set(boundaries)) == 2 * 261


def test_boundaries_need_aware_datetimes() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        shift_boundaries(WEEKDAYS, datetime(2026, 3, 27), utc("2026-03-28T00:00"))


# (now, previous boundary, next boundary)
PREVIOUS_NEXT = [
    ("2026-11-27T12:00", "2026-11-27T09:00", "2026-11-27T17:30"),
    ("2026-11-27T09:00", "2026-11-27T09:00", "2026-11-27T17:30"),
    ("2026-11-27T08:59:59", "2026-11-26T17:30", "2026-11-27T09:00"),
    # Friday evening to Monday morning is one shift.
    ("2026-11-28T12:00", "2026-11-27T17:30", "2026-11-30T09:00"),
    # The weekend of the spring change: Friday 17:30 GMT to Monday 09:00 BST.
    ("2026-03-29T12:00", "2026-03-27T17:30", "2026-03-30T08:00"),
    ("2026-10-25T12:00", "2026-10-23T16:30", "2026-10-26T09:00"),
]


@pytest.mark.parametrize(("now", "previous", "following"), PREVIOUS_NEXT)
def test_previous_and_next_boundary(now: str, previous: str, following: str) -> None:
    assert previous_boundary(WEEKDAYS, utc(now)) == utc(previous)
    assert next_boundary(WEEKDAYS, utc(now)) == utc(following)


def test_a_weekly_rota_finds_its_boundaries_a_week_away() -> None:
    weekly = HandoverTimes(("0 10 * * wed",), LONDON)
    assert previous_boundary(weekly, utc("2026-11-24T12:00")) == utc("2026-11-18T10:00")
    assert next_boundary(weekly, utc("2026-11-18T10:00")) == utc("2026-11-25T10:00")


# --- exactly-once keys ---------------------------------------------------------------------------------------------

KEYS = [
    ("basket", utc("2026-11-27T09:00"), "basket:2026-11-27T09:00:00+00:00"),
    # The same instant written in local time has the same key.
    ("basket", datetime(2026, 6, 1, 9, tzinfo=ZoneInfo(LONDON)), "basket:2026-06-01T08:00:00+00:00"),
    ("checkout-domain", utc("2026-03-29T01:00"), "checkout-domain:2026-03-29T01:00:00+00:00"),
]


@pytest.mark.parametrize(("rota", "boundary", "key"), KEYS)
def test_shift_key(rota: str, boundary: datetime, key: str) -> None:
    assert shift_key(rota, boundary) == key


def test_shift_key_is_the_same_for_every_moment_of_a_shift_and_differs_between_shifts_and_rotas() -> None:
    moments = [utc("2026-11-27T09:00") + timedelta(minutes=m) for m in range(0, 510, 7)]
    assert {shift_key("basket", previous_boundary(WEEKDAYS, m)) for m in moments} == {
        "basket:2026-11-27T09:00:00+00:00"}
    assert shift_key("basket", utc("2026-11-27T17:30")) != shift_key("basket", utc("2026-11-27T09:00"))
    assert shift_key("search", utc("2026-11-27T09:00")) != shift_key("basket", utc("2026-11-27T09:00"))


@pytest.mark.parametrize(("rota", "boundary", "problem"), [
    ("basket", datetime(2026, 11, 27, 9), "timezone-aware"),
    ("", utc("2026-11-27T09:00"), "rota id"),
])
def test_shift_key_rejects(rota: str, boundary: datetime, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        shift_key(rota, boundary)


# --- which handover is due -----------------------------------------------------------------------------------------

HOUR = timedelta(hours=1)
DUE = [
    # (case, now, last posted boundary, grace, expected)
    ("on time", "2026-11-27T09:00", "2026-11-26T17:30", HOUR, Due(utc("2026-11-27T09:00"), late=False)),
    ("on time, end of the minute", "2026-11-27T09:00:59", "2026-11-26T17:30", HOUR,
     Due(utc("2026-11-27T09:00"), late=False)),
    ("just past the minute is late", "2026-11-27T09:01:01", "2026-11-26T17:30", HOUR,
     Due(utc("2026-11-27T09:00"), late=True)),
    ("late within grace", "2026-11-27T09:20", "2026-11-26T17:30", HOUR, Due(utc("2026-11-27T09:00"), late=True)),
    ("late at exactly the grace", "2026-11-27T10:00", "2026-11-26T17:30", HOUR,
     Due(utc("2026-11-27T09:00"), late=True)),
    ("skipped after grace", "2026-11-27T10:00:01", "2026-11-26T17:30", HOUR, None),
    ("never posted, within grace", "2026-11-27T09:10", None, HOUR, Due(utc("2026-11-27T09:00"), late=True)),
    ("never posted, after grace", "2026-11-27T12:00", None, HOUR, None),
    ("already posted", "2026-11-27T09:30", "2026-11-27T09:00", HOUR, None),
    ("restart in the handover minute, already posted", "2026-11-27T09:00:30", "2026-11-27T09:00", HOUR, None),
    ("restart in the handover minute, not yet posted", "2026-11-27T09:00:30", "2026-11-26T17:30", HOUR,
     Due(utc("2026-11-27T09:00"), late=False)),
    ("down all weekend: only the latest shift, late", "2026-11-30T09:05", "2026-11-27T09:00", HOUR,
     Due(utc("2026-11-30T09:00"), late=True)),
    ("up on Saturday: Friday's 17:30 is past grace", "2026-11-28T10:00", "2026-11-27T09:00", HOUR, None),
    ("Monday after the spring change, 09:00 BST", "2026-03-30T08:00", "2026-03-27T17:30", HOUR,
     Due(utc("2026-03-30T08:00"), late=False)),
    ("zero grace: only on the boundary itself", "2026-11-27T09:00:00.5", "2026-11-26T17:30", timedelta(0), None),
]


@pytest.mark.parametrize(("now", "last_posted", "grace", "expected"),
                         [case[1:] for case in DUE], ids=[case[0] for case in DUE])
def test_due_handover(now: str, last_posted: str | None, grace: timedelta, expected: Due | None) -> None:
    posted = utc(last_posted) if last_posted else None
    assert due_handover(WEEKDAYS, utc(now), posted, grace) == expected


def test_spring_nightly_handover_is_due_once() -> None:
    due = due_handover(NIGHTLY, utc("2026-03-29T01:00"), utc("2026-03-28T01:30"), HOUR)
    assert due == Due(utc("2026-03-29T01:00"), late=False)
    assert due_handover(NIGHTLY, utc("2026-03-29T01:30"), due.boundary, HOUR) is None


SAID_LATE = [
    # (case, went out, claimed late, expected)
    ("on time", "2026-11-27T09:00:30", False, False),
    ("posted past its minute", "2026-11-27T09:05", False, True),
    ("claimed late, posted on the same clock", "2026-11-27T09:05", True, True),
    ("claimed late, Slack says it went out before its boundary", "2026-11-27T08:55", True, False),
    ("claimed on time, went out before its boundary", "2026-11-27T08:59:59", False, False),
]


@pytest.mark.parametrize(("went_out", "claimed_late", "expected"),
                         [case[1:] for case in SAID_LATE], ids=[case[0] for case in SAID_LATE])
def test_said_late_never_before_the_boundary(went_out: str, claimed_late: bool, expected: bool) -> None:
    assert said_late(utc("2026-11-27T09:00"), utc(went_out), claimed_late) is expected


def test_due_handover_rejects_negative_grace_and_naive_now() -> None:
    with pytest.raises(ValueError, match="grace"):
        due_handover(WEEKDAYS, utc("2026-11-27T09:00"), None, -HOUR)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        due_handover(WEEKDAYS, datetime(2026, 11, 27, 9), None, HOUR)


# --- the report ----------------------------------------------------------------------------------------------------

def test_report_sorts_incidents_into_open_now_and_during_the_shift() -> None:
    built = handover_report("Basket", START, END, on_call("Alice"), on_call("Bob"), INCIDENTS, [], [], WORKING, LONDON)
    assert [i.number for i in built.open_now] == [1, 4, 3]
    assert [(s.incident.number, s.time_to_acknowledge, s.time_to_resolve) for s in built.during_shift] == [
        (2, timedelta(minutes=4), timedelta(minutes=62)),
        (4, timedelta(minutes=10), None),
        (3, None, None),
    ]



def test_the_most_pressing_come_first_and_the_shift_is_counted() -> None:
    low = replace(incident(8, "2026-11-26T20:00"), urgency="low")  # open longest, but low urgency
    built = handover_report("Basket", START, END, on_call("Alice"), on_call("Bob"), [*INCIDENTS, low], [], [],
                            WORKING, LONDON)
    # Open now: high before low, unacknowledged before acknowledged, then the longest open.
    assert [i.number for i in most_pressing_open(built)] == [3, 1, 4, 8]
    # During the shift: high (all three), still open before resolved, then the longest: #4 open 1h 30m, #3 30m.
    assert [s.incident.number for s in most_pressing_during(built)] == [4, 3, 2]
    assert shift_counts(built) == ShiftCounts(triggered=3, high_urgency=3, resolved=1, still_open=2,
                                              unacknowledged=1)

# (case, shift start, shift end, working hours, out-of-hours incident numbers or None)
OUT_OF_HOURS = [
    ("weekday working hours: none out of hours", START, END, WORKING, []),
    ("evening shift over the weekend", utc("2026-11-27T17:30"), utc("2026-11-30T09:00"), WORKING, [6, 11, 12]),
    ("no working hours: not reported", START, END, None, None),
    # 07:30Z is 08:30 BST (out of hours); 08:00Z is 09:00 BST (in hours, though before nine in UTC).
    ("summer: working hours are local (BST)", utc("2026-06-04T07:00"), utc("2026-06-04T16:30"), WORKING, [20]),
]
WEEKEND = [
    incident(11, "2026-11-28T12:00"),  # Saturday noon
    incident(12, "2026-11-30T08:59"),  # Monday before nine
    incident(20, "2026-06-04T07:30"),
    incident(21, "2026-06-04T08:00"),
]


@pytest.mark.parametrize(("start", "end", "working_hours", "expected"),
                         [case[1:] for case in OUT_OF_HOURS], ids=[case[0] for case in OUT_OF_HOURS])
def test_pages_out_of_hours(start: datetime, end: datetime, working_hours: tuple[time, time] | None,
                            expected: list[int] | None) -> None:
    built = handover_report("Basket", start, end, [], [], [*INCIDENTS, *WEEKEND], [], [], working_hours, LONDON)
    numbers = None if built.out_of_hours is None else [i.number for i in built.out_of_hours]
    assert numbers == expected
