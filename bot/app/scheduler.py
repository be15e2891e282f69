"""Scheduled jobs (APScheduler's AsyncIOScheduler), built when the bot starts — never registered at import time.

Jobs: refresh the cards of open incidents, so that their elapsed time stays true between events; every minute,
the cards of incidents whose money at stake is still growing (their service's exposure window runs); with
ServiceNow configured, send the timeline to each ticket as batched work notes; and one job per rota in the catalogue
that asks, every minute (and at once at start-up), whether the rota's handover is due; and every minute, which
open incidents are owed a status-update reminder. The handover jobs run on an
interval rather than on cron triggers because the handover times, their time zone, the grace period for a missed
post and the exactly-once ledger are the domain's (`bot/domain/handover.py`): the job only asks, at the bot's Clock's
time — which the sandbox can move. Every 10 minutes, the resolved incidents' channels due to be archived are queued
(`channels.archive_after`; the effect itself goes through the outbox). Every hour, the store's bookkeeping past
`retention.days` is pruned (bot/services/retention.py).

Replicas: every replica runs this scheduler, and each job must still run once. The interval jobs' triggers start from
one fixed instant (`ALIGNED`), so every replica fires a job at the same moments, and `once_across_replicas` runs it
only on the replica that claims that moment's time slot in the store (the JobRuns port). A slot rather than a
leader: nothing to elect or fail over, and a dead replica costs at most the slot it had claimed. The handover checks
are claimed the same way (one PagerDuty lookup a minute, not one per replica), and the handover ledger's per-shift
claim still guarantees one post should two checks ever overlap.

Stopping (SIGTERM, a rolling deploy): the bot pauses the scheduler, so no job starts, and a job that fires as the
stop begins claims no slot (a replica still running claims it). Each job running is under way in the bot's
in-flight registry (commands/in_flight.py), so the stop's drain waits for it within its budget, and cuts it short
only then, with a log line saying which job, which slot, and which run does what it left.

A run stuck on a store that does not answer (or on an outside call that hangs) would otherwise hold its job for
good: each job runs one instance at a time, so every later firing is skipped with nothing but APScheduler's warning.
A run is therefore bounded to `run_limit(every)` — most of its interval, so it ends before the next firing — and a
run past it is cancelled and logged as an ERROR that says what was stopped, what to check, and which run does what it
left — whether it stuck in its run (its slot claimed) or in the claim itself (the slot maybe nobody's, nothing done);
the next firing runs as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.ports import Clock
from bot.ports.replicas import JobRuns
from commands.in_flight import InFlight, Work

CARD_REFRESH_MINUTES = 5
# The card's loss figure and "N min left" change every minute while an exposure window runs. Both refresh jobs ask
# for at most 40 chat.update a minute (of Slack's Tier 3, 50: bot/services/card_refreshes.py), cards shown longest ago
# first: every minute while 40 or fewer are due, every ceil(due / 40) minutes beyond.
MONEY_REFRESH_MINUTES = 1
ARCHIVE_CHECK_MINUTES = 10
REMINDER_CHECK_MINUTES = 1
# Retention is counted in days: pruning hourly keeps each run's batches few (a thirtieth of a day's bookkeeping).
RETENTION_MINUTES = 60
# Interval jobs fire at ALIGNED + k * interval on every replica: one second into each slot, so that clocks a little
# apart still agree on which slot a firing belongs to.
ALIGNED = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
Job = Callable[[], Awaitable[object]]
log = logging.getLogger(__name__)
# A run may take this share of its job's interval: it is stopped before the job fires again.
RUN_SHARE = 0.9


def run_limit(every: timedelta) -> float:
    """How long, in seconds, one run of a job fired every `every` may take before it is stopped as stuck."""
    return every.total_seconds() * RUN_SHARE


def once_across_replicas(job: str, every: timedelta, run: Job, runs: JobRuns, owner: str, clock: Clock,
                         in_flight: InFlight, *, limit: float | None = None) -> Job:
    """`run`, but only on the replica that claims the current slot of `every` for `job`; elsewhere nothing. Each run
    is under way in `in_flight`, so that the bot's stop waits for it within its drain, and cuts it short (logged,
    with the slot and the run that does what it left) only once that budget is spent. A stopping replica claims no
    slot: a replica still running claims it instead. A run (its claim included) still going after `limit` seconds
    (`run_limit(every)` unless given) is stopped and logged, so that the job's next firing is not skipped."""
    bound = run_limit(every) if limit is None else limit

    async def claimed() -> object:
        if not in_flight.taking:
            return None  # stopping: the slot is left to a replica that is not (or to this one restarted)
        now = clock.now().timestamp()
        slot = int(now // every.total_seconds())
        with in_flight.under_way(Work(f"scheduled job {job}", cut_short=_left_to_next(slot, every))):
            deadline = asyncio.timeout(bound)
            claimed_slot = False
            try:
                async with deadline:
                    if not await runs.claim_job(job, slot, owner, now):
                        return None  # another replica runs this slot
                    claimed_slot = True
                    return await run()
            except TimeoutError:
                if not deadline.expired():
                    raise  # the run's own failure, not its bound
                if claimed_slot:
                    log.error("scheduled job %s stopped after %.0f s, stuck: the store did not answer (is the "
                              "database up? /readyz says whether it answers) or a call to Slack, PagerDuty or "
                              "ServiceNow hung; %s. If every run of it says this, the job does nothing: look at the "
                              "database first", job, bound, _left_to_next(slot, every))
                else:  # stuck in the claim itself: the slot may be nobody's, and nothing of the run was done
                    log.error("scheduled job %s stopped after %.0f s, stuck claiming its slot: the store did not "
                              "answer (is the database up? /readyz says whether it answers); %s. If every run of it "
                              "says this, the job does nothing: look at the database", job, bound,
                              _claim_unanswered(slot, every))
                return None
            except asyncio.CancelledError:
                if in_flight.taking:
                    raise  # not the stop's: whoever cancelled it hears of it
                # Cut short by the stop (and logged by its drain): not a failure, which APScheduler would log as
                # "raised an exception".
                return None
    return claimed


def _left_to_next(slot: int, every: timedelta) -> str:
    """What a job cut short in `slot` leaves, and which run does it: every job is idempotent and picks up what an
    earlier run left (the handover ledger claims and queues a post in one transaction, the outbox coalesces, the
    reminders are recorded once per interval, retention prunes in batches of their own transactions)."""
    start = datetime.fromtimestamp(slot * every.total_seconds(), UTC)
    return (f"its slot of {start:%Y-%m-%d %H:%M} UTC is claimed, so no replica runs it again; what it had stored "
            f"stays, and what it had not is done by its next run, at {start + every:%H:%M} UTC, on whichever replica "
            "claims it")


def _claim_unanswered(slot: int, every: timedelta) -> str:
    """What a job stopped while it claimed `slot` leaves: nothing of its run was done, and the claim may or may not
    have been stored (the store did not answer), so the slot may be no replica's — its work waits for the next run."""
    start = datetime.fromtimestamp(slot * every.total_seconds(), UTC)
    return (f"its slot of {start:%Y-%m-%d %H:%M} UTC may or may not be claimed (the claim got no answer), and none "
            f"of its work was done; its next run, at {start + every:%H:%M} UTC, on whichever replica claims it, does "
            "what this one did not")


def build_scheduler(refresh_cards: Callable[[], Awaitable[object]],
                    flush_work_notes: Callable[[], Awaitable[object]] | None = None, *,
                    card_refresh_minutes: float = CARD_REFRESH_MINUTES,
                    work_note_minutes: float = 5,
                    refresh_money_cards: Callable[[], Awaitable[object]] | None = None,
                    handover_checks: Mapping[str, Callable[[], Awaitable[object]]] | None = None,
                    archive_channels: Callable[[], Awaitable[object]] | None = None,
                    remind_status_updates: Callable[[], Awaitable[object]] | None = None,
                    prune_store: Callable[[], Awaitable[object]] | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(refresh_cards, IntervalTrigger(minutes=card_refresh_minutes, start_date=ALIGNED),
                      id="refresh-open-cards", max_instances=1, coalesce=True, misfire_grace_time=60)
    if refresh_money_cards is not None:
        scheduler.add_job(refresh_money_cards, IntervalTrigger(minutes=MONEY_REFRESH_MINUTES, start_date=ALIGNED),
                          id="refresh-money-at-stake", max_instances=1, coalesce=True, misfire_grace_time=30)
    if flush_work_notes is not None:
        # The ticket reads as a story, not a firehose: the timeline goes to ServiceNow in batches.
        scheduler.add_job(flush_work_notes, IntervalTrigger(minutes=work_note_minutes, start_date=ALIGNED),
                          id="flush-work-notes", max_instances=1, coalesce=True, misfire_grace_time=60)
    if archive_channels is not None:
        # Resolved incidents' channels are archived days after the resolve: a check every 10 minutes is plenty.
        scheduler.add_job(archive_channels, IntervalTrigger(minutes=ARCHIVE_CHECK_MINUTES, start_date=ALIGNED),
                          id="archive-channels", max_instances=1, coalesce=True, misfire_grace_time=300)
    if remind_status_updates is not None:
        # Asks every minute which incidents are owed a status update; the reminders' exactly-once is the inbox's
        # (bot/services/toolkit.py), so an overlapping or repeated check posts nothing twice.
        scheduler.add_job(remind_status_updates, IntervalTrigger(minutes=REMINDER_CHECK_MINUTES, start_date=ALIGNED),
                          id="remind-status-updates", max_instances=1, coalesce=True, misfire_grace_time=60)
    if prune_store is not None:
        scheduler.add_job(prune_store, IntervalTrigger(minutes=RETENTION_MINUTES, start_date=ALIGNED),
                          id="prune-store", max_instances=1, coalesce=True, misfire_grace_time=600)
    schedule_handovers(scheduler, handover_checks or {})
    return scheduler


def schedule_handovers(scheduler: AsyncIOScheduler,
                       checks: Mapping[str, Callable[[], Awaitable[object]]]) -> None:
    """(Re)build the handover jobs: one per rota, every minute, the first at once."""
    for job in scheduler.get_jobs():
        if job.id.startswith("handover:"):
            job.remove()
    for rota_id, check in checks.items():
        # At second 1 of every minute, so an on-time check finds its boundary seconds old, never "(late)".
        scheduler.add_job(check, CronTrigger(second=1, timezone=UTC), id=f"handover:{rota_id}",
                          name=f"handover check {rota_id}", max_instances=1, coalesce=True, misfire_grace_time=60,
                          next_run_time=datetime.now(UTC))
