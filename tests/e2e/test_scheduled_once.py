"""Scheduled jobs run once across replicas: a second Bot on the sandbox's database is a second replica, with its own
scheduler. Both fire each job at the same instants; only the replica that claims the slot runs it — the card
refresh, the money line, the work-note batch, the status-update reminders, the channel archiving, the retention's
pruning — and the next slot is anyone's. (Each rota's handover check is claimed the same way; that a handover is
posted once is the ledger's, proven in test_handover.py and test_two_replicas.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.adapters.store.postgres.job_runs import KEPT_SECONDS as POSTGRES_KEPT_SECONDS
from bot.adapters.store.sqlite.job_runs import KEPT_SECONDS as SQLITE_KEPT_SECONDS
from bot.app.runtime import Bot
from bot.app.scheduler import (
    ALIGNED,
    ARCHIVE_CHECK_MINUTES,
    REMINDER_CHECK_MINUTES,
    RETENTION_MINUTES,
    build_scheduler,
)
from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, settle, trigger

ASHA = "asha.patel@example.com"


@pytest.fixture
async def second_replica(sandbox: RunningSandbox, catalogue: Catalogue) -> AsyncIterator[Bot]:
    # Well inside a slot of every job (at most 5 minutes long), and ahead of now: nothing moves back.
    now = datetime.now(UTC)
    sandbox.sandbox.clock.set(now.replace(minute=0, second=10, microsecond=0) + timedelta(hours=1))
    # Its own replica id: on one machine, replicas differ by port, and this one shares the first one's settings.
    bot = Bot(sandbox.bot.settings, catalogue, clock=sandbox.bot.clock, replica_id="second-replica")
    await bot.start()
    yield bot
    await bot.stop()


def job(bot: Bot, job_id: str) -> Callable[[], Awaitable[object]]:
    assert bot.scheduler is not None
    found = bot.scheduler.get_job(job_id)
    assert found is not None, job_id
    run: Callable[[], Awaitable[object]] = found.func
    return run


@pytest.mark.parametrize("job_id", ["refresh-open-cards", "refresh-money-at-stake", "flush-work-notes"])
async def test_a_scheduled_job_runs_on_one_replica_per_slot(sandbox: RunningSandbox, second_replica: Bot,
                                                            job_id: str) -> None:
    # Checkout: money at stake, so the money line has a card to refresh.
    incident = await trigger(sandbox, service_id="PCHECKO")
    await settle(sandbox)
    sandbox.sandbox.clock.advance(timedelta(minutes=5))  # the card, drawn at the trigger, is due for its refreshes

    async def work_to_do() -> None:
        if job_id == "flush-work-notes":  # a line the ticket has not been told
            await act(sandbox, incident["id"], "note", user=ASHA, content="Rolling back to 4.2.0")
    first = sandbox.bot
    await work_to_do()
    assert await job(first, job_id)() == 1
    await settle(sandbox)
    await work_to_do()
    # The other replica fired the same job in the same slot: it does nothing, though it would have queued work.
    assert await job(second_replica, job_id)() is None
    assert (await first.store.depths())["outbox_pending"] == 0
    sandbox.sandbox.clock.advance(timedelta(minutes=5))
    assert await job(second_replica, job_id)() == 1  # the next slot: the second replica won it


@pytest.mark.parametrize(("job_id", "slot_minutes"), [("remind-status-updates", REMINDER_CHECK_MINUTES),
                                                     ("archive-channels", ARCHIVE_CHECK_MINUTES),
                                                     ("prune-store", RETENTION_MINUTES)])
async def test_the_toolkit_and_archiving_jobs_run_on_one_replica_per_slot(sandbox: RunningSandbox, second_replica: Bot,
                                                                          job_id: str, slot_minutes: int) -> None:
    # Whether they find anything to do or not, the replica that claimed the slot runs the job (its count, maybe 0)
    # and the other does not run it at all (None).
    await trigger(sandbox, service_id="PCHECKO")
    assert await job(sandbox.bot, job_id)() is not None
    assert await job(second_replica, job_id)() is None
    assert await job(sandbox.bot, job_id)() is None  # the slot is taken, by whoever asks again
    sandbox.sandbox.clock.advance(timedelta(minutes=slot_minutes))
    assert await job(second_replica, job_id)() is not None  # the next slot: the second replica won it
    assert await job(sandbox.bot, job_id)() is None


def test_interval_jobs_fire_at_the_same_instants_on_every_replica() -> None:
    async def nothing() -> None:
        return None

    def jobs() -> AsyncIOScheduler:
        return build_scheduler(nothing, nothing, refresh_money_cards=nothing, archive_channels=nothing,
                               remind_status_updates=nothing, prune_store=nothing)

    early, late = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 3, 59, tzinfo=UTC)
    for job_id in ("refresh-open-cards", "refresh-money-at-stake", "flush-work-notes", "remind-status-updates",
                   "archive-channels", "prune-store"):
        # Two replicas started minutes apart: their jobs' next firings are the same instants, one second into a slot.
        fires = [jobs().get_job(job_id).trigger.get_next_fire_time(None, started) for started in (early, late)]
        interval = jobs().get_job(job_id).trigger.interval
        assert (fires[1] - fires[0]) % interval == timedelta(0), job_id
        assert (fires[0] - ALIGNED) % interval == timedelta(0) and fires[0].second == 1, job_id


def test_a_slots_claim_is_kept_past_any_late_firing_of_that_slot() -> None:
    """The store forgets a claim an hour after it was made (job_runs.KEPT_SECONDS): safe only while no replica fires
    a slot that late — its start plus the job's misfire grace, plus a little clock skew between replicas."""
    async def nothing() -> None:
        return None

    scheduler = build_scheduler(nothing, nothing, refresh_money_cards=nothing, archive_channels=nothing,
                                remind_status_updates=nothing, prune_store=nothing,
                                handover_checks={"retail-oncall": nothing})
    latest = max(job.misfire_grace_time for job in scheduler.get_jobs())
    for kept in (SQLITE_KEPT_SECONDS, POSTGRES_KEPT_SECONDS):
        assert latest + 60 < kept
