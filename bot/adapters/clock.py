"""Clocks: the system clock, and a settable one for the sandbox and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """Time that can be moved: the sandbox's clock control, and every test that needs time to be exact.

    By default real time runs on, shifted by an offset that `advance` and `set` move (the sandbox: timers and
    timeouts still see time pass). `frozen=True` stops it: the clock reads `start` until moved, so a test can
    assert on exact instants and intervals.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._frozen_at: datetime | None = None
        self._offset = timedelta()
        if frozen:
            self._frozen_at = start or datetime.now(UTC)
        elif start is not None:
            self.set(start)

    def now(self) -> datetime:
        if self._frozen_at is not None:
            return self._frozen_at
        return datetime.now(UTC) + self._offset

    def timestamp(self) -> float:
        """`now()` as epoch seconds, for the emulators that count time in seconds."""
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> None:
        if self._frozen_at is not None:
            self._frozen_at += delta
        else:
            self._offset += delta

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (aware), from which time runs on (or stays, when frozen)."""
        if self._frozen_at is not None:
            self._frozen_at = moment
        else:
            self._offset = moment - datetime.now(UTC)
