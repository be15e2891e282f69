"""The bot's start and stop: stopping is safe to ask for twice (a signal handler and the web app's cleanup may both
ask, one after the other or at once), and every part is closed once."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app.runtime import Bot
from bot.app.scheduler import once_across_replicas
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from tests.helpers import offline_settings, quiet_clock


def offline(tmp_path: Path, catalogue: Catalogue) -> Bot:
    return Bot(offline_settings(tmp_path / "bot.db"), catalogue, retry_policy=RetryPolicy(max_attempts=1),
               clock=quiet_clock())


async def test_a_bot_stopped_twice_in_a_row_stops_once_and_says_nothing_went_wrong(
        tmp_path: Path, catalogue: Catalogue) -> None:
    bot = offline(tmp_path, catalogue)
    await bot.start()
    await bot.stop()
    await bot.stop()
    assert not bot.running


async def test_two_stops_at_once_both_return_once_the_bot_has_stopped(tmp_path: Path, catalogue: Catalogue) -> None:
    bot = offline(tmp_path, catalogue)
    await bot.start()
    results = await asyncio.gather(bot.stop(), bot.stop(), return_exceptions=True)
    assert list(results) == [None, None]
    assert not bot.running


async def test_stopping_while_scheduled_jobs_run_logs_no_error(tmp_path: Path, catalogue: Catalogue,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    # The handover checks run at once at start-up: stopped straight after, the bot cuts them short. That is a
    # stop, not a failure, and an operator's log must not show it as one (APScheduler logs a job's exception).
    bot = offline(tmp_path, catalogue)
    await bot.start()
    with caplog.at_level(logging.INFO):
        await bot.stop()
        await asyncio.sleep(0.05)  # the cancelled jobs end (and would log) on the loop's next turns
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_a_scheduled_job_cancelled_while_the_bot_runs_is_not_taken_for_a_stop(
        tmp_path: Path, catalogue: Catalogue) -> None:
    # Only the stop's cancellation is a quiet end: any other (a timeout someone wraps a job in) reaches its canceller.
    bot = offline(tmp_path, catalogue)
    await bot.start()
    try:
        started = asyncio.Event()

        async def hangs() -> None:
            started.set()
            await asyncio.Event().wait()
        job = once_across_replicas("a-test-job", timedelta(minutes=1), hangs, bot.store, bot.replica_id, bot.clock,
                                   stopping=lambda: False)
        running: asyncio.Future[object] = asyncio.ensure_future(job())
        await started.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    finally:
        await bot.stop()


def test_building_the_bot_with_the_token_in_the_environment_warns_of_nothing(
        tmp_path: Path, catalogue: Catalogue, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Bolt read SLACK_BOT_TOKEN from the environment beside the client the bot gives it, and every `serve` logged
    # "As you gave `client` as well, `token` will be unused": the client carries that very token, and an operator
    # reading the start-up log took it for a token the bot would not use.
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with caplog.at_level(logging.WARNING):
        offline(tmp_path, catalogue)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []
