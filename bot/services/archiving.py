"""Archiving resolved incidents' channels: a scheduled job queues `ArchiveChannel` for each incident resolved more
than `channels.archive_after` ago ("never" turns it off), once per resolution; performing it posts a last message
pointing to the review (drafting one first if there is none in the channel) and archives the channel. A workspace
that lets the bot archive no channel (MAY_NOT_MANAGE_CHANNELS) has the last message say the channel stays open, and
the operators told once a day: not a dead effect and an alert for every incident resolved.

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
from bot.domain.effects import OPERATORS, AlertOperators
from bot.domain.effects.slack import ArchiveChannel, DraftReview
from bot.domain.incident import Incident
from bot.errors import IntegrationError
from bot.ports import CHANNEL_GONE, CHANNEL_IS_ARCHIVED, MAY_NOT_MANAGE_CHANNELS, Chat, Clock, PostedMessage
from bot.ports.store import Deduplication, Incidents, Outbox, SlackFootprints
from bot.render.format import link
from bot.render.review import review_prefix
from bot.services.markers import LOOKBACK_SECONDS, marker_metadata
from bot.services.outlasting import carried_through
from bot.services.reviews import Reviews

log = logging.getLogger(__name__)
# The archiving of one resolution is claimed for this long (a year): later runs of the job skip it.
CLAIM_SECONDS = 366 * 86400
# Slack's answers that mean the channel is already as wanted (archived) or has nothing left to archive (gone).
_DONE = frozenset({"already_archived", CHANNEL_IS_ARCHIVED, CHANNEL_GONE})
_REFUSALS = {
    "restricted_action": "the workspace lets only some members archive channels (Slack admin: Settings & "
                         "permissions → Permissions → Channel Management → who can archive channels). ",
    "missing_scope": "the app was installed without the `channels:manage` scope (reinstall it with the scopes of "
                     "app_manifest.yml). ",
    "user_is_restricted": "the bot's user is restricted in this workspace, as a guest is (a workspace admin can lift "
                          "it). ",
}
_REFUSALS["user_is_ultra_restricted"] = _REFUSALS["user_is_restricted"]
# How long a cancelled run waits for a claim and its queue to end together (past it they end in the background).
CLAIM_THROUGH_SECONDS = 5.0
# The operators hear of it once in this long.
TOLD_SECONDS = 86400.0
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
        due = {f"archive:{incident.id}:{incident.resolved_at.isoformat()}": incident
               for incident, _channel in await self._store.resolved_with_own_channel(due_by - HORIZON, due_by + TICK)
               if incident.resolved_at is not None and archive_due(incident, now, self._delay)}
        # Every run finds the last 30 days' resolutions due, nearly all claimed (queued) by earlier runs: those are
        # read in one go, and only the others claimed — the claim, an urgent write each, still decides who queues.
        claimed = await self._store.still_seen(list(due), now.timestamp())
        for claim, incident in due.items():
            if claim in claimed:
                continue
            # Carried through a cancellation (the stop's, or the scheduler's bound on a stuck run): cut between its
            # two writes, or while a store call's answer is on its way, it would leave a claim with nothing queued
            # (the channel open for the claim's year) or an effect queued with its claim forgotten (queued twice).
            if await carried_through(self._claim_and_queue(claim, incident, now.timestamp()), CLAIM_THROUGH_SECONDS):
                queued += 1
        if queued:
            self._on_queued()
        return queued

    async def _claim_and_queue(self, claim: str, incident: Incident, now: float) -> bool:
        """Claim the resolution's archiving and queue it, in one transaction (a claim whose answer was lost after it
        committed, with its effect written apart, held the channel open for the claim's year); whether this call did."""
        return await self._store.first_time_then_queue(claim, CLAIM_SECONDS, now, ArchiveChannel(incident.id))

    async def archive(self, effect: ArchiveChannel, *, retry: bool, created_at: float) -> None:
        incident = await self._store.incident(effect.incident_id)
        if incident is None or not archive_due(incident, self._clock.now(), self._delay):
            return  # reopened (or the policy changed) since it was queued: left open
        footprint = await self._store.footprint(incident.id)
        channel = footprint.channel_id
        if channel is None or footprint.shared_channel:
            return
        try:
            last = await self._last_message(incident, channel, retry=retry, since=created_at - LOOKBACK_SECONDS)
            try:
                await self._chat.archive(channel)
            except IntegrationError as error:
                if error.code not in MAY_NOT_MANAGE_CHANNELS:
                    raise
                await self._kept_open(incident, channel, last, str(error.code))
                return
        except IntegrationError as error:
            if error.code not in _DONE:
                raise
            log.info("channel %s of incident %s: %s; nothing left to archive", channel, incident.id, error.code)
        log.info("archived channel %s of incident %s", channel, incident.id)

    async def _kept_open(self, incident: Incident, channel: str, last: PostedMessage, code: str) -> None:
        """Slack will not let the bot archive channels (`code`): the last message says the channel stays open, the
        effect ends (retrying changes nothing), and the operators are told once a day what to change."""
        log.warning("incident %s: Slack refuses to archive its channel %s (%s); it stays open", incident.id, channel,
                    code)
        await self._chat.update_message(channel, last.ts, _last_words(incident, await self._pointer(incident, channel),
                                                                      None))
        now = self._clock.now().timestamp()
        alert = AlertOperators(OPERATORS, (
            f"⚠️ Slack refuses to let the bot archive resolved incidents' channels (`{code}`): "
            f"{_REFUSALS.get(code, '')}The channels stay open (#{incident.number}'s, for one): archive them by "
            "hand when they are done with, let the app archive channels, or set `channels.archive_after: never` "
            "in the catalogue to stop trying."))
        # Claimed and queued in one transaction: as two writes, a crash between them lost the day's alert.
        await self._store.first_time_then_queue(f"slack:archive-refused:{code}", TOLD_SECONDS, now, alert, priority=0)

    async def _last_message(self, incident: Incident, channel: str, *, retry: bool, since: float) -> PostedMessage:
        marker = f"archive:{incident.id}"
        if retry and (found := await self._chat.find_posted(channel, marker, since)) is not None:
            return found
        return await self._chat.post_message(channel, _last_words(incident, await self._pointer(incident, channel),
                                                                  self._catalogue.channels.archive_after),
                                             metadata=marker_metadata(marker))

    async def _pointer(self, incident: Incident, channel: str) -> str:
        """Where the incident's review is, for its channel's last message (drafted now when there is none)."""
        now = self._clock.now().timestamp()
        prefix = review_prefix(incident)
        review = await self._chat.find_file(channel, prefix, now - REVIEW_LOOKBACK_SECONDS)
        resolved = incident.resolved_at.timestamp() if incident.resolved_at else 0.0
        if review is None or float(review.ts) < resolved:
            # No review was drafted here, or only before the incident last resolved (it reopened since: that one
            # ends at the first resolve): draft it now, so the last message points to one that tells it all.
            await self._reviews.draft(DraftReview(incident.id), retry=False, created_at=now)
            review = await self._chat.find_file(channel, prefix, now - LOOKBACK_SECONDS)
        permalink = await self._chat.permalink(channel, review.ts) if review else None
        return f"The review draft: {link(permalink, 'open it')}." if permalink else \
            "The review draft is above in this channel."


def _last_words(incident: Incident, pointer: str, archive_after: str | None) -> str:
    """The channel's last message: it is being archived (`archive_after` after the resolve), or — None — Slack
    would not let the bot archive it."""
    if archive_after is None:
        return (f"🗄️ #{incident.number} is resolved, and its work here is done. {pointer} Follow-ups stay on the "
                "review and the ServiceNow ticket. This channel stays open: Slack does not let the bot archive "
                "channels in this workspace.")
    return (f"🗄️ #{incident.number} was resolved {archive_after} ago, so this channel is being archived. {pointer} "
            "Follow-ups stay on the review and the ServiceNow ticket. If the incident reopens, it continues in a new "
            "channel (Slack does not let apps unarchive one).")
