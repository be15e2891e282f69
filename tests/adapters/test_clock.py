"""The settable clock: real time moved by the sandbox's clock control, or frozen for tests that need exact instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.adapters.clock import SettableClock

MONDAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_a_frozen_clock_reads_its_start_until_moved() -> None:
    clock = SettableClock(MONDAY, frozen=True)
    assert clock.now() == clock.now() == MONDAY
    clock.advance(timedelta(minutes=3))
    assert clock.now() == MONDAY + timedelta(minutes=3)
    assert clock.timestamp() == (MONDAY + timedelta(minutes=3)).timestamp()
    clock.set(MONDAY)
    assert clock.now() == MONDAY


def test_by_default_time_runs_on_from_where_the_clock_was_moved() -> None:
    before = datetime.now(UTC)
    clock = SettableClock()
    assert before <= clock.now() <= datetime.now(UTC)
    clock.advance(timedelta(hours=1))
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)
    started = SettableClock(MONDAY)
    first = started.now()
    assert MONDAY <= first < MONDAY + timedelta(minutes=1)
    while started.now() == first:  # the clock is not frozen: it moves by itself
        pass
    assert started.now() > first
