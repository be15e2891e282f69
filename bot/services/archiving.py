"""Archiving resolved incidents' channels: a scheduled job queues `ArchiveChannel` for each incident resolved more
than `channels.archive_after` ago ("never" turns it off), once per resolution; performing it posts a last message
pointing to the review (drafting one first if there is none in the channel) and archives the channel.

An incident open again (reopened) is never archived: the effect looks at the incident when it runs, not only when it
was queued. A channel already archived, or gone, is the end wanted, not an error. Slack does not let an app
unarchive a channel: an incident that reopens after its channel was archived continues in a new channel (see
`EffectExecutor`), which says where the earlier story is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.archiving import archive_delay, archive_due
from bot.domain.effects import ArchiveChannel, DraftReview
from bot.domain.incident import Incident
from bot.errors import IntegrationError
from bot.ports import Chat, Clock
from bot.ports.store import Deduplication, Incidents, Outbox, SlackFootprints
from bot.render.format import link
from bot.render.review import review_prefix
from bot.services.markers import LOOKBACK_SECONDS, marker_metadata
from bot.services.reviews import Reviews

log = logging.getLogger(__name__)
# The archiving of one resolution is claimed for this long (a year): later runs of the job skip it.
CLAIM_SECONDS = 366 * 86400
# Slack's answers that mean the channel is already as wanted (archived) or has nothing left to archive (gone).
_DONE = frozenset({"already_archived", "is_archived", "channel_not_found"})
REVIEW_LOOKBACK_SECONDS = 400 * 86400
# Channels due longer ago than this (the bot was down for weeks, or archiving was just turned on) are left as they
# are: the job's claims stay bounded to the incidents resolved recently, not the whole history.
HORIZON = timedelta(days=30)
TICK = timedelta(microseconds=1)


class ArchiveStore(Incidents, SlackFootprints, Outbox, Deduplication, Protocol):
    """What archiving needs of the store: incidents, their channels, the outbox, and a once-only claim."""


class Archiving:
    def __init__(self, store: ArchiveStore, chat: Chat, reviews: Reviews, catalogue: Catalogue, clock: Clock,
                 on_queued: Callable[[], None]) -> None:
        self._store, self._chat, self._reviews, self._catalogue = store, chat, reviews, catalogue
        self._clock, self._on_queued = clock, on_queued
        self._delay = archive_delay(catalogue.channels.archive_after)

    async def queue_due(self) -> int:
        """The scheduled job: queue the archiving of every channel now due; how many were queued."""
        if self._delay is None:
            return 0
        now = self._clock.now()
        queued = 0
        # Only the incidents resolved within the window that have a channel of their own, found by resolve time.
        due_by = now - self._delay
        for incident, _channel in await self._store.resolved_with_own_channel(due_by - HORIZON, due_by + TICK):
            if not archive_due(incident, now, self._delay):
                continue
            assert incident.resolved_at is not None
            claim = f"archive:{incident.id}:{incident.resolved_at.isoformat()}"
            if await self._store.first_time(claim, CLAIM_SECONDS, now.timestamp()):
                await self._store.queue_effect(ArchiveChannel(incident.id), now.timestamp())
                queued += 1
        if queued:
            self._on_queued()
        return queued

    async def archive(self, effect: ArchiveChannel, *, retry: bool, created_at: float) -> None:
        incident = await self._store.incident(effect.incident_id)
        if incident is None or not archive_due(incident, self._clock.now(), self._delay):
            return  # reopened (or the policy changed) since it was queued: left open
        footprint = await self._store.footprint(incident.id)
        channel = footprint.channel_id
        if channel is None or footprint.shared_channel:
            return
        try:
            await self._last_message(incident, channel, retry=retry, since=created_at - LOOKBACK_SECONDS)
            await self._chat.archive(channel)
        except IntegrationError as error:
            if error.code not in _DONE:
                raise
            log.info("channel %s of incident %s: %s; nothing left to archive", channel, incident.id, error.code)
        log.info("archived channel %s of incident %s", channel, incident.id)

    async def _last_message(self, incident: Incident, channel: str, *, retry: bool, since: float) -> None:
        marker = f"archive:{incident.id}"
        if retry and await self._chat.find_posted(channel, marker, since) is not None:
            return
        now = self._clock.now().timestamp()
        prefix = review_prefix(incident)
        review = await self._chat.find_file(channel, prefix, now - REVIEW_LOOKBACK_SECONDS)
        if review is None:
            # No review was drafted here: draft it now, so the last message has one to point to.
            await self._reviews.draft(DraftReview(incident.id), retry=False, created_at=now)
            review = await self._chat.find_file(channel, prefix, now - LOOKBACK_SECONDS)
        permalink = await self._chat.permalink(channel, review.ts) if review else None
        pointer = f"The review draft: {link(permalink, 'open it')}." if permalink else \
            "The review draft is above in this channel."
        await self._chat.post_message(channel, (
            f"🗄️ #{incident.number} was resolved {self._catalogue.channels.archive_after} ago, so this channel is "
            f"being archived. {pointer} Follow-ups stay on the review and the ServiceNow ticket. If the incident "
            "reopens, it continues in a new channel (Slack does not let apps unarchive one)."),
            metadata=marker_metadata(marker))
