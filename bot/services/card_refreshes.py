"""The scheduled card refreshes: which open incidents' cards the scheduler's jobs refresh, within Slack's budget.

An open card shows figures no event updates: the time since the trigger, and the money at stake while its service's
exposure window runs. Two jobs keep them true — every minute the cards whose money figure has moved a step
(`money_refresh_due`), every five minutes every open card — and both go through here. Each refresh is a
`chat.update`, Slack Tier 3 (50 a minute), so the schedule never asks for more than `per_minute` of them: refreshes
already pending (or queued by the other job moments ago) count against it, and the rest go to the due cards shown
longest ago. While a new incident's channel waits to be opened, the jobs queue nothing (refreshes yield to new
incidents: in a storm they would only wait behind its channels) — one Slack refused as rate-limited still waits.
The minute's budget is one token bucket in the store (the RateBudget port, `BUDGET_KEY`), shared by every replica:
the two jobs are claimed per slot, so at the five-minute marks replica A may run one while replica B runs the other,
at the same instant. Each run takes its batch's tokens from the bucket atomically, so together they queue at most
`per_minute` — never twice the budget because two processes each counted what was pending before the other wrote.
With more open cards than the budget, each card is refreshed every ceil(open ÷ per_minute) minutes or so, in turn,
instead of a queue that grows. Refreshes asked for by state changes (acknowledge, resolve, notes) are queued at once
by the events themselves and are not limited here. What is queued still comes after every event's effects (the
outbox's scheduled priority).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.exposure import money_refresh_due
from bot.domain.incident import Incident
from bot.ports import Clock
from bot.ports.replicas import RateBudget
from bot.ports.store import CardRefreshState, Incidents, Outbox
from bot.services.calculator import incident_exposure

# Of chat.update's Tier 3 (50 a minute), what the schedule may spend: the rest is left for the refreshes that state
# changes ask for, and for the other chat.update calls (status updates, handover edits).
SCHEDULED_SHARE = 0.8
# A refresh queued this recently counts against the budget even once done: the other job, run the same minute.
RECENT_SECONDS = 30.0
# A card refreshed a little less than the five minutes ago (jobs fire a second or so apart) is due all the same.
SLACK_SECONDS = 30.0
# The scheduled refreshes' bucket in the store's rate budget (refilled at `per_minute` a minute, holding a minute's).
BUDGET_KEY = "scheduled:card-refreshes"


class CardRefreshStore(Incidents, Outbox, RateBudget, Protocol):
    """What the card refresh jobs read and write."""


def scheduled_refresh_budget(chat_update_per_minute: float | None) -> int | None:
    """How many card refreshes the schedule may ask for a minute, given chat.update's pace (None: not paced)."""
    return None if chat_update_per_minute is None else max(1, int(chat_update_per_minute * SCHEDULED_SHARE))


class CardRefreshes:
    def __init__(self, store: CardRefreshStore, catalogue: Catalogue, clock: Clock, wake: Callable[[], None],
                 per_minute: int | None) -> None:
        self._store, self._catalogue, self._clock, self._wake = store, catalogue, clock, wake
        self.per_minute = per_minute
        # The two jobs fire together every five minutes: one at a time, so the second sees what the first queued (in
        # this process; across replicas the store's bucket holds the budget).
        self._lock = asyncio.Lock()

    async def money_at_stake(self, job_minutes: float) -> int:
        """The minute job: cards whose money at stake has moved a step since they were shown. Returns how many
        refreshes were queued."""
        def due(incident: Incident, card: CardRefreshState, now: datetime) -> bool:
            exposure = incident_exposure(self._catalogue, incident.service_id)
            return exposure is not None and money_refresh_due(exposure, incident.triggered_at, now, job_minutes,
                                                              last_shown=_shown(incident, card))
        return await self._queue(due)

    async def elapsed_time(self, every_minutes: float) -> int:
        """The five-minute job: every open card not drawn for that long (its elapsed time moved on), and every
        card never posted (a channel that could not be opened gets another try). Returns how many refreshes were
        queued. A card posted and never refreshed counts from its trigger: one drawn a moment ago with everything it
        shows already on it (a ticket opened before it was drawn queues no refresh) is not drawn again for nothing."""
        def due(incident: Incident, card: CardRefreshState, now: datetime) -> bool:
            return (now - _shown(incident, card)).total_seconds() >= every_minutes * 60 - SLACK_SECONDS \
                or (card.refresh_queued_at is None and not card.card_drawn)
        return await self._queue(due)

    async def _queue(self, due: Callable[[Incident, CardRefreshState, datetime], bool]) -> int:
        async with self._lock:
            now = self._clock.now()
            incidents = {i.id: i for i in await self._store.open_incidents()}
            cards = [c for c in await self._store.card_refresh_states() if c.incident_id in incidents]
            if any(c.channel_opening for c in cards):
                # Refreshes yield to new incidents: the dispatcher performs every channel opening before any
                # scheduled refresh, so what were queued now would only wait behind the storm's channels, a backlog
                # for nobody. The next run after the last opening begins resumes, cards shown longest ago first.
                return 0
            candidates = [c for c in cards if not c.refresh_pending and due(incidents[c.incident_id], c, now)]
            # Shown longest ago first (stable: by number among equals), so that every card gets its turn.
            candidates.sort(key=lambda c: _shown(incidents[c.incident_id], c))
            if self.per_minute is not None:
                spent = sum(1 for c in cards if c.refresh_pending or (
                    c.refresh_queued_at is not None and now.timestamp() - c.refresh_queued_at < RECENT_SECONDS))
                wanted = min(len(candidates), max(0, self.per_minute - spent))
                # Another replica's job may be counting the same pending refreshes right now: the bucket, taken from
                # atomically, is what keeps the two of them within one minute's budget.
                granted = await self._store.take_up_to(BUDGET_KEY, wanted, self.per_minute / 60, self.per_minute,
                                                       now.timestamp()) if wanted else 0
                candidates = candidates[:granted]
            queued = await self._store.queue_card_refreshes(now.timestamp(),
                                                            only=[c.incident_id for c in candidates])
            if queued:
                self._wake()
            return queued


def _shown(incident: Incident, card: CardRefreshState) -> datetime:
    """When the card was last drawn, as far as the jobs know: its latest refresh queued, else its trigger (the card
    is drawn when the channel opens)."""
    if card.refresh_queued_at is None:
        return incident.triggered_at
    return datetime.fromtimestamp(card.refresh_queued_at, UTC)
