"""The bot's start and stop: stopping is safe to ask for twice (a signal handler and the web app's cleanup may both
ask, one after the other or at once), and every part is closed once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.runtime import Bot
from bot.app.scheduler import once_across_replicas
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from tests.e2e.sandbox_helpers import eventually
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
                                   bot.in_flight)
        running: asyncio.Future[object] = asyncio.ensure_future(job())
        await started.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    finally:
        await bot.stop()


def long_job(bot: Bot, name: str, work: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """A scheduled job as the bot builds its own (one replica per slot, under way while it runs), firing now on the
    bot's scheduler: a job whose run outlasts the moment the stop begins (a retention prune's batches, a slow
    store)."""
    assert bot.scheduler is not None
    job = once_across_replicas(name, timedelta(minutes=1), work, bot.store, bot.replica_id, bot.clock, bot.in_flight)
    bot.scheduler.add_job(job, id=name, next_run_time=datetime.now(UTC))
    return job


async def test_a_scheduled_job_running_when_the_bot_stops_is_finished_before_the_store_is_closed(
        tmp_path: Path, catalogue: Catalogue) -> None:
    # SIGTERM on a rolling deploy: the stop waits for the job within its drain, as for a command under way. It was
    # cancelled the moment the stop began, whatever it had left to do.
    bot = offline(tmp_path, catalogue)
    await bot.start()
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def work() -> None:
        started.set()
        await release.wait()
        finished.append(await bot.store.claim_job("its last step", 1, bot.replica_id, 0.0))  # the store still open
    long_job(bot, "a-long-job", work)
    await started.wait()
    stopping = asyncio.ensure_future(bot.stop())
    await eventually(lambda: not bot.in_flight.taking)
    assert [str(w) for w in bot.in_flight.under_way_now()] == ["scheduled job a-long-job (nobody named)"]
    release.set()
    await stopping
    assert finished == [True]


async def test_a_scheduled_job_still_running_when_the_drain_ends_is_cut_short_and_logged_with_its_slot(
        tmp_path: Path, catalogue: Catalogue, caplog: pytest.LogCaptureFixture) -> None:
    bot = Bot(offline_settings(tmp_path / "bot.db"), catalogue, retry_policy=RetryPolicy(max_attempts=1),
              clock=quiet_clock(), drain_seconds=0.3)
    await bot.start()
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()
    long_job(bot, "a-long-job", hangs)
    await started.wait()
    with caplog.at_level(logging.INFO):
        await bot.stop()
    [cut] = [r.getMessage() for r in caplog.records if r.name == "commands.in_flight"]
    slot = bot.clock.now().replace(second=0, microsecond=0)
    assert "scheduled job a-long-job" in cut and "cut short" in cut, cut
    assert f"slot of {slot:%Y-%m-%d %H:%M} UTC" in cut and f"next run, at {slot + timedelta(minutes=1):%H:%M}" in cut
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_scheduled_job_firing_once_the_stop_has_begun_leaves_its_slot_to_another_replica(
        tmp_path: Path, catalogue: Catalogue) -> None:
    # Every replica fires each job at the same moments; the one stopping must not claim the slot and then do nothing.
    bot = offline(tmp_path, catalogue)
    await bot.start()
    started, release = asyncio.Event(), asyncio.Event()

    async def holds_the_drain() -> None:
        started.set()
        await release.wait()
    long_job(bot, "a-long-job", holds_the_drain)
    await started.wait()
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")
    fired_late = once_across_replicas("fired-late", timedelta(minutes=1), work, bot.store, bot.replica_id, bot.clock,
                                      bot.in_flight)
    stopping = asyncio.ensure_future(bot.stop())
    try:
        await eventually(lambda: not bot.in_flight.taking)
        await fired_late()  # as APScheduler runs a job it fired just before the stop paused it
        now = bot.clock.now().timestamp()
        assert ran == []
        assert await bot.store.claim_job("fired-late", int(now // 60), "another-replica", now)
    finally:
        release.set()
        await stopping


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
