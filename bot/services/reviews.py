"""The post-incident review: `/incident review` (and, when the catalogue's `review.on_resolve` says so, a resolve)
queues a `DraftReview`; performing it writes the Markdown draft (bot/render/review.py) from the incident as it is
then, shares it in the incident channel with Slack's external upload, and queues `AttachReview`, which puts the
same bytes on the ServiceNow ticket through its Attachment API.

Replays converge: the draft's file name comes from when it was asked for, a retry looks for a file of that name in
the channel before uploading again, and the ticket's attachments are looked at before attaching. ServiceNow refusing
the attachment leaves the file in Slack; the dead effect's alert says so in the operators' channel — but for a
ticket closed meanwhile (desks that close tickets on resolve): a closed ticket takes no attachment, and that is
nobody's failure to fix (logged; the review is in Slack).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.effects.servicenow import AttachReview
from bot.domain.effects.slack import DraftReview
from bot.domain.incident import Incident
from bot.domain.ticket_rules import CLOSED
from bot.errors import IntegrationError
from bot.ports import CANNOT_POST_THERE, Chat, Clock, Tickets
from bot.ports.store import Incidents, Outbox, SlackFootprints, TicketRecords
from bot.render.review import ReviewLinks, review_filename, review_markdown
from bot.services.calculator import incident_exposure
from bot.services.markers import LOOKBACK_SECONDS
from bot.services.slack_text import MOST_NAMES, SlackText
from bot.services.ticket_follow_ons import FollowOns

log = logging.getLogger(__name__)
MARKDOWN = "text/markdown"


class ReviewStore(Incidents, SlackFootprints, TicketRecords, Outbox, Protocol):
    """What writing reviews needs of the store: the incident and timeline, its channel, its ticket, the outbox."""


class Reviews:
    def __init__(self, store: ReviewStore, chat: Chat, tickets: Tickets | None, catalogue: Catalogue, clock: Clock,
                 on_queued: Callable[[], None]) -> None:
        self._store, self._chat, self._tickets, self._catalogue = store, chat, tickets, catalogue
        self._clock, self._on_queued = clock, on_queued

    async def ask(self, incident: Incident, *, user: str, channel: str) -> str:
        """`/incident review`: queue the draft; what to tell the person."""
        await self._store.queue_effect(DraftReview(incident.id, asked_by=user, channel=channel),
                                       self._clock.now().timestamp(), priority=0)
        self._on_queued()
        footprint = await self._store.footprint(incident.id)
        where = f"<#{footprint.channel_id}>" if footprint.channel_id and not footprint.shared_channel \
            else "this channel"
        ticket = await self._store.ticket(incident.id) if self._tickets else None
        attached = ("" if ticket.state in CLOSED else f" and attached to {ticket.number}") if ticket \
            else " and attached to its ServiceNow ticket" if self._tickets else ""
        still = " (it is still open: the draft tells the story so far)" if incident.resolved_at is None else ""
        return f"📝 Writing the review draft of #{incident.number}{still}: it will be posted in {where}{attached}."

    async def document(self, incident: Incident, drafted_at: datetime) -> tuple[str, str]:
        """(file name, Markdown) of the review as the incident stands now."""
        timeline = await self._store.timeline(incident.id)
        footprint = await self._store.footprint(incident.id)
        ticket = await self._store.ticket(incident.id)
        channel = (footprint.channel_name or footprint.channel_id or "",
                   f"https://slack.com/app_redirect?channel={footprint.channel_id}") if footprint.channel_id else None
        links = ReviewLinks(incident.html_url, (ticket.number, ticket.link) if ticket else None, channel)
        text = review_markdown(await self._owners_named(incident), timeline,
                               exposure=incident_exposure(self._catalogue, incident.service_id), links=links,
                               drafted_at=drafted_at)
        return review_filename(incident, drafted_at), text

    async def _owners_named(self, incident: Incident) -> Incident:
        """The incident with its follow-ups' owners named where Slack gave no name when each was recorded (its lookup
        failed then): asked again, together; still unnamed, the review says so (FollowUp.owner)."""
        unnamed = [f for f in incident.follow_ups if f.owner_id and not f.owner_name][:MOST_NAMES]
        if not unnamed:
            return incident
        text = SlackText(self._chat)
        names = dict(zip([f.number for f in unnamed],
                         await asyncio.gather(*(text.name(str(f.owner_id)) for f in unnamed)), strict=True))
        return replace(incident, follow_ups=tuple(replace(f, owner_name=names.get(f.number) or f.owner_name)
                                                  for f in incident.follow_ups))

    async def draft(self, effect: DraftReview, *, retry: bool, created_at: float) -> None:
        incident = await self._store.incident(effect.incident_id)
        if incident is None:
            return
        drafted_at = datetime.fromtimestamp(int(created_at), UTC)
        filename, text = await self.document(incident, drafted_at)
        footprint = await self._store.footprint(incident.id)
        channel = footprint.channel_id or effect.channel
        if channel is None:
            log.info("review of incident %s not posted: it has no channel and nobody asked from one", incident.id)
            return
        comment = (f"📝 The review draft of #{incident.number}" + (f", asked for by <@{effect.asked_by}>"
                                                                    if effect.asked_by else "")
                   + ": download it, edit it, and share the final version where your team keeps reviews.")
        found = await self._chat.find_file(channel, filename, created_at - LOOKBACK_SECONDS) if retry else None
        if found is None:
            try:
                await self._chat.upload_file(channel, text.encode(), filename=filename,
                                             title=f"Review draft — #{incident.number}", comment=comment)
            except IntegrationError as error:
                # (A channel it cannot share in: the draft then goes to where it was asked for.)
                if error.code not in CANNOT_POST_THERE or not effect.channel or effect.channel == channel:
                    raise
                channel = effect.channel
                await self._chat.upload_file(channel, text.encode(), filename=filename,
                                             title=f"Review draft — #{incident.number}", comment=comment)
        if self._tickets is not None:
            await self._store.queue_effect(AttachReview(incident.id, filename, text, channel),
                                           self._clock.now().timestamp())
            self._on_queued()

    async def attach(self, effect: AttachReview) -> None:
        if self._tickets is None:
            return
        ticket = await self._store.ticket(effect.incident_id)
        if ticket is None:
            raise IntegrationError("servicenow", "the incident has no ServiceNow ticket to attach the review to",
                                   retryable=False)
        if ticket.state not in CLOSED:
            if effect.filename in await self._tickets.attachments(ticket.sys_id):
                return  # a lost earlier attempt attached it
            try:
                await self._tickets.attach(ticket.sys_id, effect.filename, MARKDOWN, effect.content.encode())
                return
            except IntegrationError as error:
                # Closed since the bot last heard (desks that close on resolve): it takes no write, and that is no
                # one's to fix. Any other refusal stays the operators' to hear of (the dead effect's alert).
                if await FollowOns(self._store, self._tickets, self._clock).closed_now(ticket, error) is None:
                    raise
        log.info("review %s of incident %s not attached to ticket %s: it is closed (the review is in Slack)",
                 effect.filename, effect.incident_id, ticket.number)
