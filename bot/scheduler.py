"""Scheduled jobs (APScheduler's AsyncIOScheduler), built when the bot starts — never registered at import time.

Jobs today: refresh the cards of open incidents, so that their elapsed time stays true between events; and, with
ServiceNow configured, send the timeline to each ticket as batched work notes.
(On-call handover posts will be built here from the catalogue's rotas.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

CARD_REFRESH_MINUTES = 5


def build_scheduler(refresh_cards: Callable[[], Awaitable[object]],
                    flush_work_notes: Callable[[], Awaitable[object]] | None = None, *,
                    card_refresh_minutes: float = CARD_REFRESH_MINUTES,
                    work_note_minutes: float = 5) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(refresh_cards, IntervalTrigger(minutes=card_refresh_minutes), id="refresh-open-cards",
                      max_instances=1, coalesce=True, misfire_grace_time=60)
    if flush_work_notes is not None:
        # The ticket reads as a story, not a firehose: the timeline goes to ServiceNow in batches.
        scheduler.add_job(flush_work_notes, IntervalTrigger(minutes=work_note_minutes), id="flush-work-notes",
                          max_instances=1, coalesce=True, misfire_grace_time=60)
    return scheduler
