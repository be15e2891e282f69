"""The PagerDuty emulator's schedules: layers, restrictions, precedence and overrides, rendered as PagerDuty renders
`GET /schedules/{id}?since=&until=` — through the real client, requests and answers checked against the OpenAPI doc."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pagerduty
import pytest

from sandbox.pagerduty.schedules import Layer, Override, Restriction, Schedule
from tests.sandbox.pagerduty_env import ERIN, PdSandbox, call, error_of, user_id

LONDON = "Europe/London"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, 09:00 in London (GMT)


def weekdays(start: str, seconds: int) -> tuple[Restriction, ...]:
    return tuple(Restriction("weekly_restriction", time.fromisoformat(start), timedelta(seconds=seconds), day)
                 for day in range(1, 6))


def day_and_night() -> Schedule:
    nights = Layer("Nights", T0, T0 + timedelta(hours=8, minutes=30), timedelta(days=1), ("n1", "n2"))
    days = Layer("Days", T0, T0, timedelta(days=7), ("d1", "d2"), weekdays("09:00:00", 30600))
    return Schedule("PS1", "Team", LONDON, [nights, days])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("moment", "user"), [
    ("2026-01-05T08:59:00+00:00", None),          # before the layers start
    ("2026-01-05T09:00:00+00:00", "d1"),          # the day layer outranks the night layer
    ("2026-01-05T17:29:59+00:00", "d1"),
    ("2026-01-05T17:30:00+00:00", "n1"),          # day restriction over: the night layer shows through
    ("2026-01-06T09:00:00+00:00", "d1"),          # weekly turn: still d1 all week
    ("2026-01-06T17:30:00+00:00", "n2"),          # daily turn at 17:30
    ("2026-01-10T12:00:00+00:00", "n1"),          # Saturday: no day restriction; Friday night turn
    ("2026-01-12T09:00:00+00:00", "d2"),          # next week's day person
])
def test_layers_restrictions_and_precedence(moment: str, user: str | None) -> None:
    assert day_and_night().on_call(at(moment)) == user


def test_overrides_win_and_the_latest_override_wins() -> None:
    schedule = day_and_night()
    schedule.overrides += [Override("Q1", at("2026-01-05T12:00:00+00:00"), at("2026-01-05T20:00:00+00:00"), "o1"),
                           Override("Q2", at("2026-01-05T13:00:00+00:00"), at("2026-01-05T14:00:00+00:00"), "o2")]
    assert [schedule.on_call(at(f"2026-01-05T{h}:00:00+00:00")) for h in ("11", "12", "13", "14", "19", "20")] == [
        "d1", "o1", "o2", "o1", "o1", "n1"]


def test_hand_offs_stay_at_local_time_across_daylight_saving() -> None:
    """A 17:30 London hand-off is 17:30 GMT in winter and 16:30 UTC in summer (BST), not drifting by an hour."""
    schedule = day_and_night()
    spring = schedule.render(at("2026-03-28T00:00:00+00:00"), at("2026-03-31T00:00:00+00:00"))
    night_starts = [e.start for e in spring if e.start.astimezone(schedule.zone).hour == 17]
    assert [s.astimezone(schedule.zone).strftime("%d %H:%M") for s in night_starts] == [
        "28 17:30", "29 17:30", "30 17:30"]
    assert [s.astimezone(UTC).hour for s in night_starts] == [17, 16, 16]  # 28th GMT, then BST


def test_the_hour_repeated_when_clocks_go_back_keeps_the_engineer_who_took_over() -> None:
    """A 01:30 London hand-off on the night clocks go back (25 October 2026): 01:30 BST (00:30 UTC) comes first, and
    the engineer who took over then stays on call through the repeated hour. Found in review of session 20: turns
    were counted on the local clock, so at 01:00-01:30 GMT the engineer before was back on call, and a schedule read
    from 01:15 UTC began with an entry from before it."""
    start = at("2026-10-20T00:30:00+00:00")  # 01:30 BST
    schedule = Schedule("PS3", "Nights", LONDON, [Layer("Nights", start, start, timedelta(days=1), ("a", "b"))])
    took_over = schedule.on_call(at("2026-10-25T00:30:00+00:00"))
    assert [schedule.on_call(at(f"2026-10-25T{t}:00+00:00")) for t in ("00:29", "00:30", "01:00", "01:15", "01:29",
                                                                      "01:30", "02:00")] == \
        [schedule.on_call(at("2026-10-24T23:00:00+00:00")), *[took_over] * 6]
    read = schedule.render(at("2026-10-25T01:15:00+00:00"), at("2026-10-25T03:00:00+00:00"))
    assert [(e.start.astimezone(UTC).isoformat(), e.end.astimezone(UTC).isoformat(), e.user_id) for e in read] == [
        ("2026-10-25T01:15:00+00:00", "2026-10-25T03:00:00+00:00", took_over)]
    # A read ending inside the repeated hour still has the hand-off at 00:30 UTC.
    assert [e.start.astimezone(UTC).isoformat() for e in schedule.render(at("2026-10-25T00:00:00+00:00"),
                                                         at("2026-10-25T01:15:00+00:00"))] == [
        "2026-10-25T00:00:00+00:00", "2026-10-25T00:30:00+00:00"]
    # The next hand-off is 01:30 GMT on the 26th, a day of wall clock (25 hours) later.
    assert schedule.on_call(at("2026-10-26T01:29:00+00:00")) == took_over != schedule.on_call(
        at("2026-10-26T01:30:00+00:00"))


def test_render_merges_clips_and_skips_gaps() -> None:
    schedule = Schedule("PS2", "Days only", LONDON, [
        Layer("Days", T0, T0, timedelta(days=7), ("d1",), weekdays("09:00:00", 30600))])
    entries = schedule.render(at("2026-01-09T12:00:00+00:00"), at("2026-01-12T10:00:00+00:00"))  # Fri noon → Mon
    assert [(e.start.isoformat(), e.end.isoformat(), e.user_id) for e in entries] == [
        ("2026-01-09T12:00:00+00:00", "2026-01-09T17:30:00+00:00", "d1"),
        ("2026-01-12T09:00:00+00:00", "2026-01-12T10:00:00+00:00", "d1"),
    ]


# ---- over HTTP, through the real client -------------------------------------------------------------------


async def test_get_schedule_renders_the_final_schedule_for_a_range(
        pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    schedule: dict[str, Any] = await call(client.rget, "/schedules/PSPAYMT", params={
        "since": "2026-11-27T08:00:00Z", "until": "2026-11-27T18:00:00Z"})
    entries = [(e["start"], e["end"], e["user"]["summary"])
               for e in schedule["final_schedule"]["rendered_schedule_entries"]]
    assert entries == [
        ("2026-11-27T08:00:00Z", "2026-11-27T09:00:00Z", "Ben Okafor"),
        ("2026-11-27T09:00:00Z", "2026-11-27T17:30:00Z", "Dev Sharma"),
        ("2026-11-27T17:30:00Z", "2026-11-27T18:00:00Z", "Chloe Martin"),
    ]
    listed = await call(lambda: list(client.iter_all("/schedules", params={"query": "retail"})))
    assert [s["id"] for s in listed] == ["PSRETNT"]


async def test_overrides_are_created_listed_and_rendered(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    erin = user_id(pd, ERIN)
    response = await call(client.post, "/schedules/PSPAYMT/overrides", json={"overrides": [
        {"start": "2026-11-27T09:00:00Z", "end": "2026-11-27T13:00:00Z",
         "user": {"id": erin, "type": "user_reference"}, "time_zone": "UTC"},
        {"start": "2026-11-27T15:00:00Z", "end": "2026-11-27T14:00:00Z",
         "user": {"id": erin, "type": "user_reference"}, "time_zone": "UTC"},
    ]})
    assert response.status_code == 201
    assert [r["status"] for r in response.json()] == [201, 400]
    assert response.json()[1]["errors"] == ["Override must end after its start"]
    schedule = await call(client.rget, "/schedules/PSPAYMT", params={
        "since": "2026-11-27T08:59:00Z", "until": "2026-11-27T09:01:00Z"})
    assert [e["user"]["summary"] for e in schedule["final_schedule"]["rendered_schedule_entries"]] == [
        "Ben Okafor", "Erin Walsh"]
    assert [o["user"]["id"] for o in schedule["overrides_subschedule"]["rendered_schedule_entries"]] == [erin]


@pytest.mark.parametrize(("params", "reason"), [
    ({"since": "2026-11-27T09:00:00Z"}, "since and until must both be given"),
    ({"since": "2026-11-27T09:00:00Z", "until": "2026-11-27T08:00:00Z"}, "cannot be before"),
    ({"since": "2026-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "90 days"),
])
async def test_bad_ranges_are_refused_like_pagerduty(
        pd: PdSandbox, client: pagerduty.RestApiV2Client, params: dict[str, str], reason: str) -> None:
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rget, "/schedules/PSPAYMT", params=params)
    status, body = error_of(raised)
    assert status == 400 and reason in str(body)


async def test_unknown_schedule_is_404(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rget, "/schedules/PNOPE00")
    assert error_of(raised)[0] == 404
