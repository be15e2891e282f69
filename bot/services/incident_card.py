"""The incident's card in Slack, and its channel's topic: drawn from current state, posted (found again by its marker
on a retry), pinned in the incident's own channel, refreshed in place, and posted anew when someone deleted it.

Part of performing the incident's Slack effects (bot/services/executor.py): the channel's opening posts the card
(channel_opening.py), a `RefreshCard` brings it up to date here. What the card shows of the ticket is card_ticket.py's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Literal

from bot.catalogue import Catalogue
from bot.domain.exposure import IncidentExposure
from bot.domain.incident import Incident, Status
from bot.errors import IntegrationError
from bot.ports import Chat, Clock
from bot.ports.store import FootprintChange, IncidentInSlack, SlackFootprint, SlackFootprints
from bot.render import card as cards
from bot.services.archived_channels import ArchivedChannels
from bot.services.bookkeeping import refresh_card_if_ticket, remember_footprint
from bot.services.calculator import incident_exposure
from bot.services.card_ticket import ticket_view
from bot.services.markers import find_posted_in, marker_metadata
from bot.services.ticket_sync import TicketSync

log = logging.getLogger(__name__)


class IncidentCard:
    """The card of one replica's executor (bot/services/executor.py), with what each service puts at stake."""

    def __init__(self, store: SlackFootprints, chat: Chat, catalogue: Catalogue, clock: Clock,
                 tickets: TicketSync | None, archived: ArchivedChannels) -> None:
        self._store, self._chat, self._catalogue, self._clock = store, chat, catalogue, clock
        self._tickets, self._archived = tickets, archived
        # What each service puts at stake, worked out once (the catalogue is frozen): every card render shows it.
        self._exposures: dict[str, IncidentExposure | None] = {}

    def _exposure(self, service_id: str) -> IncidentExposure | None:
        if service_id not in self._exposures:
            self._exposures[service_id] = incident_exposure(self._catalogue, service_id)
        return self._exposures[service_id]

    async def ticket_view(self, incident: Incident, footprint: SlackFootprint,
                          found: IncidentInSlack | None = None) -> cards.TicketView | None:
        return None if self._tickets is None else await ticket_view(self._store, incident, footprint, found)

    async def set_topic(self, incident: Incident, footprint: SlackFootprint,
                        view: cards.TicketView | Literal[False] | None = False) -> None:
        """`view`: the ticket as the card just showed it (read again when not given)."""
        text = cards.topic(incident, await self.ticket_view(incident, footprint) if view is False else view)
        if footprint.channel_id and footprint.topic != text \
                and not await self._archived.still_removed(incident, footprint):  # (until invited back)
            await self._chat.set_topic(footprint.channel_id, text)
            await remember_footprint(self._store, incident.id, topic=text)

    async def post(self, incident: Incident, footprint: SlackFootprint, channel: str, *, retry: bool,
                   since: float, pin: bool, view: cards.TicketView | Literal[False] | None = False,
                   look_in: Sequence[str] = ()) -> None:
        """`view`: the ticket as the card is to show it (read when not given); `look_in`: where a retry looks for an
        earlier attempt's card (`channel` when not given)."""
        marker = f"card:{incident.id}"
        if footprint.card_ts is None:
            found = await find_posted_in(self._chat, look_in or (channel,), marker, since) if retry else None
            if found is not None:
                channel, posted = found
            else:
                shown = await self.ticket_view(incident, footprint) if view is False else view
                blocks = cards.card_blocks(incident, self._clock.now(), shown, self._exposure(incident.service_id),
                                           page_im=self._catalogue.incident_manager is not None)
                posted = await self._chat.post_message(channel, cards.card_text(incident), blocks,
                                                       metadata=marker_metadata(marker))
                if shown is not None and shown.number is not None:
                    # Drawn by this attempt with the ticket on it: the opening's outcome need not refresh it for
                    # the ticket. Only then — a card an earlier attempt posted (found here, or known by its ts) may
                    # have been drawn before the ticket was opened.
                    refresh_card_if_ticket(incident.id, True, self._clock.now().timestamp())
            # The channel as named (a team's, the default one): said in the operators' alert should it be archived.
            name = footprint.channel_name if footprint.channel_id == channel and footprint.channel_name \
                else channel.lstrip("#")
            # Slack answers with the channel's id even when we named it: keep the id.
            channel, ts = posted.channel, posted.ts
            footprint.card_ts = ts
            if not pin:  # in a team's (or the default) channel: where its thread's lines go
                footprint.channel_id, footprint.channel_name, footprint.shared_channel = channel, name, True
            # Not pinned yet: a card posted again after its deletion must not inherit the deleted one's pin.
            card: FootprintChange = {"card_ts": ts, "card_pinned": False} if pin else {
                "card_ts": ts, "channel_id": channel, "channel_name": name, "shared_channel": True}
            remember_card = remember_footprint(self._store, incident.id, **card)
            # Pinning does not wait for the card's ts to be saved; a retry finds the card by its marker.
            await run_all(remember_card, *([self._pin(incident, footprint, channel)] if pin else []))
        elif pin:
            await self._pin(incident, footprint, channel)

    async def _pin(self, incident: Incident, footprint: SlackFootprint, channel: str) -> None:
        if footprint.card_pinned or footprint.card_ts is None:
            return
        try:
            await self._chat.pin(channel, footprint.card_ts)
        except IntegrationError as error:
            if error.code != "already_pinned":
                raise
        footprint.card_pinned = True
        await remember_footprint(self._store, incident.id, card_pinned=True)

    async def refresh(self, incident: Incident, found: IncidentInSlack, *, retry: bool, since: float) -> None:
        """The card (posted: `found.footprint` knows its channel and ts) drawn again in place, then the topic and
        the pin."""
        footprint = found.footprint
        assert footprint.channel_id is not None and footprint.card_ts is not None
        view = await self.ticket_view(incident, footprint, found)
        blocks = cards.card_blocks(incident, self._clock.now(), view, self._exposure(incident.service_id),
                                   page_im=self._catalogue.incident_manager is not None)
        try:
            await self._chat.update_message(footprint.channel_id, footprint.card_ts, cards.card_text(incident),
                                            blocks)
        except IntegrationError as error:
            # A card deleted is gone (message_not_found), or a tombstone Slackbot keeps for its thread's replies
            # (cant_update_message: no longer the bot's to edit).
            if error.code not in ("message_not_found", "cant_update_message"):
                raise
            if incident.status is Status.RESOLVED:  # nothing more to show: not a new card at the channel's bottom
                log.info("incident %s: its card was deleted in Slack; resolved, so none is posted again", incident.id)
                return
            await self._card_deleted(incident, footprint, view, retry=retry, since=since)
        if footprint.in_own_channel(incident):  # and its pin, should the card's (a card posted again) have failed
            await run_all(self.set_topic(incident, footprint, view), self._pin_again(incident, footprint))

    async def _pin_again(self, incident: Incident, footprint: SlackFootprint) -> None:
        """A refresh's pin of a card whose own pin failed. Refused for good (pins restricted in the workspace:
        permission_denied), it is logged, not the refresh's death at every change: the failed pin's effect has told
        the operators already."""
        assert footprint.channel_id is not None
        try:
            await self._pin(incident, footprint, footprint.channel_id)
        except IntegrationError as error:
            if error.retryable or error.credentials_refused:
                raise
            log.warning("incident %s: Slack refuses to pin its card (%s); the card is kept up to date unpinned",
                        incident.id, error)

    async def _card_deleted(self, incident: Incident, footprint: SlackFootprint, view: cards.TicketView | None, *,
                            retry: bool, since: float) -> None:
        """Someone deleted the card (a workspace admin may, any message): a new one is posted (and pinned, in the
        incident's own channel), rather than every later refresh failing for good with an alert of its own."""
        assert footprint.channel_id is not None
        log.warning("incident %s: its card %s in %s was deleted in Slack; posting a new one", incident.id,
                    footprint.card_ts, footprint.channel_id)
        # This effect's copy only: the stored card stays the old one until the new one is posted (a post failing for
        # good must not leave the incident's thread lines posted at the channel's top level).
        footprint.card_ts, footprint.card_pinned = None, False
        await self.post(incident, footprint, footprint.channel_id, retry=retry, since=since,
                        pin=footprint.in_own_channel(incident), view=view)


async def run_all(*steps: Awaitable[None]) -> None:
    """Run steps concurrently and wait for *every* one to finish before reporting the first failure: a step left
    running after its sibling failed would race the retry and could post the same thing twice."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
