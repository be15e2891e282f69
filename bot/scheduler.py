"""Scheduled jobs (APScheduler's AsyncIOScheduler), built when the bot starts — never registered at import time.

Jobs today: refresh the cards of open incidents, so that their elapsed time stays true between events; every minute,
the cards of incidents whose money at stake is still growing (their service's exposure window runs); and, with
ServiceNow configured, send the timeline to each ticket as batched work notes.
(On-call handover posts will be built here from the catalogue's rotas.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

CARD_REFRESH_MINUTES = 5
# The card's loss figure and "N min left" change every minute while an exposure window runs. One chat.update a
# minute per such incident stays inside Slack's Tier 3 (50 a minute) for a few dozen at once; beyond that the token
# bucket paces the updates, and each incident has at most one refresh waiting, computed when it is sent.
MONEY_REFRESH_MINUTES = 1


def build_scheduler(refresh_cards: Callable[[], Awaitable[object]],
                    flush_work_notes: Callable[[], Awaitable[object]] | None = None, *,
                    card_refresh_minutes: float = CARD_REFRESH_MINUTES,
                    work_note_minutes: float = 5,
                    refresh_money_cards: Callable[[], Awaitable[object]] | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(refresh_cards, IntervalTrigger(minutes=card_refresh_minutes), id="refresh-open-cards",
                      max_instances=1, coalesce=True, misfire_grace_time=60)
    if refresh_money_cards is not None:
        scheduler.add_job(refresh_money_cards, IntervalTrigger(minutes=MONEY_REFRESH_MINUTES),
                          id="refresh-money-at-stake", max_instances=1, coalesce=True, misfire_grace_time=30)
    if flush_work_notes is not None:
        # The ticket reads as a story, not a firehose: the timeline goes to ServiceNow in batches.
        scheduler.add_job(flush_work_notes, IntervalTrigger(minutes=work_note_minutes), id="flush-work-notes",
                          max_instances=1, coalesce=True, misfire_grace_time=60)
    return scheduler
