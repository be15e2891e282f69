"""Scheduled jobs (APScheduler's AsyncIOScheduler), built when the bot starts — never registered at import time.

Jobs: refresh the cards of open incidents, so that their elapsed time stays true between events; with ServiceNow
configured, send the timeline to each ticket as batched work notes; and one job per rota in the catalogue that asks,
every minute (and at once at start-up), whether the rota's handover is due. The handover jobs run on an interval
rather than on cron triggers because the handover times, their time zone, the grace period for a missed post and
the exactly-once ledger are the domain's (`bot/domain/handover.py`): the job only asks, at the bot's Clock's time —
which the sandbox can move.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

CARD_REFRESH_MINUTES = 5


def build_scheduler(refresh_cards: Callable[[], Awaitable[object]],
                    flush_work_notes: Callable[[], Awaitable[object]] | None = None, *,
                    card_refresh_minutes: float = CARD_REFRESH_MINUTES,
                    work_note_minutes: float = 5,
                    handover_checks: Mapping[str, Callable[[], Awaitable[object]]] | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(refresh_cards, IntervalTrigger(minutes=card_refresh_minutes), id="refresh-open-cards",
                      max_instances=1, coalesce=True, misfire_grace_time=60)
    if flush_work_notes is not None:
        # The ticket reads as a story, not a firehose: the timeline goes to ServiceNow in batches.
        scheduler.add_job(flush_work_notes, IntervalTrigger(minutes=work_note_minutes), id="flush-work-notes",
                          max_instances=1, coalesce=True, misfire_grace_time=60)
    for rota_id, check in (handover_checks or {}).items():
        scheduler.add_job(check, IntervalTrigger(minutes=1), id=f"handover:{rota_id}", name=f"handover check {rota_id}",
                          max_instances=1,
                          coalesce=True, misfire_grace_time=60, next_run_time=datetime.now(UTC))
    return scheduler
