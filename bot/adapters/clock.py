"""Clocks: the system clock, and a settable one for the sandbox and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """Real time shifted by an offset that can be moved forward (the sandbox's clock control)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (aware), from which time runs on."""
        self.offset = moment - datetime.now(UTC)
