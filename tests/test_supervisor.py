"""The background loops' supervisor (bot/app/supervisor.py): a loop that raises is restarted; while it keeps
failing, the log has its first failure with the traceback, then a line at growing intervals with the count and the
latest failure, and a line when it goes round again — not a traceback a second. Driven with a loop of the test's own
that fails as the worker does when the database is gone, on the supervisor's time as the test sets it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from bot.app.supervisor import RESTART_SECONDS, supervise


class DatabaseOutage:
    """A loop that fails `failures` times as a drain does with the database gone, then goes round (beats) for ever;
    and the supervisor's clock, which each restart pause moves on."""

    def __init__(self, failures: int) -> None:
        self.failures_left = failures
        self.runs = 0
        self.heartbeat = 0.0
        self.seconds = 0.0
        self.ended = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        try:
            while True:
                if self.failures_left:
                    self.failures_left -= 1
                    raise ConnectionRefusedError(111, "connection to server at 127.0.0.1, port 5432 failed")
                self.heartbeat += 1
                await asyncio.sleep(0.001)
        finally:
            self.ended.set()

    async def pause(self, seconds: float) -> None:
        self.seconds += seconds
        await asyncio.sleep(0)

    def fail_again(self, failures: int) -> None:
        self.failures_left = failures


def start(outage: DatabaseOutage) -> asyncio.Task[None]:
    return asyncio.create_task(supervise("worker", outage.run, lambda: outage.heartbeat, now=lambda: outage.seconds,
                                         pause=outage.pause))


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, bool]]:
    return [(r.getMessage(), r.exc_info is not None) for r in caplog.records if r.name == "bot.app.supervisor"]


class Recoveries(logging.Handler):
    """Sets `logged` when the supervisor logs a loop's recovery."""

    def __init__(self) -> None:
        super().__init__()
        self.logged = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "recovered" in record.getMessage():
            self.logged.set()


@pytest.fixture
def recoveries() -> Iterator[Recoveries]:
    handler = Recoveries()
    logging.getLogger("bot.app.supervisor").addHandler(handler)
    yield handler
    logging.getLogger("bot.app.supervisor").removeHandler(handler)


async def a_recovery(recoveries: Recoveries) -> None:
    """Wait for the next recovery line (a minute at most: the line never coming fails the test)."""
    await asyncio.wait_for(recoveries.logged.wait(), 60)
    recoveries.logged.clear()


async def test_an_outage_logs_one_traceback_then_counted_summaries_then_its_recovery(
        caplog: pytest.LogCaptureFixture, recoveries: Recoveries) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.supervisor")
    outage = DatabaseOutage(failures=40)
    task = start(outage)
    await a_recovery(recoveries)
    logged = lines(caplog)
    assert [traced for _, traced in logged] == [True, False, False, False]  # one traceback in forty failures
    first, *summaries, recovered = [message for message, _ in logged]
    assert first.startswith(f"worker loop failed; restarting it every {RESTART_SECONDS:g}s")
    # Summaries at 10s, then 20s later: the pace slows as the outage goes on.
    assert summaries == [
        "worker loop still failing: 11 failure(s) in 10s, the latest ConnectionRefusedError: "
        "[Errno 111] connection to server at 127.0.0.1, port 5432 failed",
        "worker loop still failing: 31 failure(s) in 30s, the latest ConnectionRefusedError: "
        "[Errno 111] connection to server at 127.0.0.1, port 5432 failed"]
    assert recovered == "worker loop recovered after 40 failure(s) in 40s"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outage.ended.is_set()  # stopping the supervisor ends the loop it runs


async def test_a_second_outage_after_a_recovery_gets_its_own_traceback(caplog: pytest.LogCaptureFixture,
                                                                       recoveries: Recoveries) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.supervisor")
    outage = DatabaseOutage(failures=2)
    task = start(outage)
    await a_recovery(recoveries)
    caplog.clear()
    outage.fail_again(1)
    await a_recovery(recoveries)
    assert lines(caplog) == [(lines(caplog)[0][0], True), ("worker loop recovered after 1 failure(s) in 1s", False)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
