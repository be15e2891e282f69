"""Opening an incident's Slack channel: created (or found by name and creator), its topic set, its responders
invited, its card posted and pinned, its team told — each step remembered as soon as it is done — and its ticket
given the channel's link. An incident without a channel of its own, or one Slack will not let the bot create, has its
card in its team's channel instead.

Part of performing the incident's Slack effects (bot/services/executor.py): `OpenIncidentChannel`, and a later
effect that finds the opening failed for good. The card itself is incident_card.py's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from bot.catalogue import Catalogue
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import SayChannelMoved
from bot.domain.home import HomesToRefresh, people_of, role_holders_of
from bot.domain.incident import Incident
from bot.ports import Chat, Clock
from bot.ports.store import SlackFootprint
from bot.services.archived_channels import ArchivedChannels
from bot.services.bookkeeping import refresh_card_if_ticket, remember_footprint
from bot.services.channel_creation import ensure_channel
from bot.services.channel_events import OpenedChannelStore, remember_opened_channel, renamed_as_it_opened
from bot.services.home import AppHome
from bot.services.incident_card import IncidentCard, run_all
from bot.services.invitations import Invitations
from bot.services.people import People, Responder
from bot.services.team_channel import TeamChannel
from bot.services.ticket_sync import TicketSync

log = logging.getLogger(__name__)


class ChannelOpening:
    """The opening of incidents' channels, for one replica's executor (bot/services/executor.py)."""

    def __init__(self, store: OpenedChannelStore, chat: Chat, people: People, catalogue: Catalogue, clock: Clock,
                 tickets: TicketSync | None, home: AppHome | None, *, invitations: Invitations,
                 archived: ArchivedChannels, team: TeamChannel, card: IncidentCard) -> None:
        self._store, self._chat, self._people, self._catalogue, self._clock = store, chat, people, catalogue, clock
        self._tickets, self._home = tickets, home
        self._invitations, self._archived, self._team, self._card = invitations, archived, team, card

    async def open(self, incident: Incident, *, retry: bool, since: float,
                   footprint: SlackFootprint | None = None) -> None:
        """`footprint`: the incident's as this effect read it (read again when not given); what the opening learns is
        set on it too (it reaches the store with the effect's outcome)."""
        if footprint is None:
            footprint = await self._store.footprint(incident.id)
        if self._tickets is not None:  # until its card is known to show the ticket (see refresh_card_for_ticket)
            refresh_card_if_ticket(incident.id, False, self._clock.now().timestamp())
        if not incident.dedicated_channel:
            await self._in_team_channel(incident, footprint, retry=retry, since=since)
            return
        # Who to invite is looked up while the channel is being created: neither waits for the other.
        responders = asyncio.ensure_future(self._responders(incident))
        try:
            remember_channel: list[Awaitable[None]] = []
            if footprint.channel_id is None or footprint.shared_channel:
                archived: list[str] = []  # this incident's channels met archived: it was moved, if any
                channel = await self._archived.unless_refused(incident, ensure_channel(self._chat, self._store,
                    self._clock, self._catalogue.channels.pattern, incident, archived, retry=retry))
                if channel is None:  # Slack lets the bot create no channel: its card goes to the team channel
                    if footprint.channel_id is None:  # (an upgraded incident's card is there already)
                        footprint.shared_channel = True  # (where it goes: its lines follow it, the card or not)
                        await self._in_team_channel(incident, footprint, retry=retry, since=since)
                        # At once, as an opening saves its channel: the ticket's sync reads it.
                        await remember_footprint(self._store, incident.id, at_once=True, shared_channel=True,
                                                 channel_id=footprint.channel_id, card_ts=footprint.card_ts,
                                                 channel_name=footprint.channel_name)
                    if self._tickets is not None:
                        await self._tickets.tell_the_channel(incident.id)
                    return
                if footprint.shared_channel:
                    # Upgraded to a channel of its own (e.g. priority raised to P1): the team-channel card says so
                    # (retired); the new channel gets its own card, pin and announcement, the ticket its link
                    # (queued once the team channel is forgotten: it waits for the new one, as after a move).
                    await self._team.retire_card(incident, footprint, channel.id)
                    await remember_footprint(self._store, incident.id, at_once=True, shared_channel=False,
                                             channel_id=None, card_ts=None, card_pinned=False, announced_ts=None)
                    if self._tickets is not None:
                        await self._store.queue_effect(SyncTicket(incident.id, channel_moved=True),
                                                       self._clock.now().timestamp())
                    footprint = await self._store.footprint(incident.id)
                # Saved at once as the next calls go out (the ticket's sync reads it: TicketSync.tell_the_channel).
                remember_channel.append(remember_opened_channel(  # (and its name, renamed meanwhile)
                    self._store, self._chat, self._clock, incident.id, channel, tickets=self._tickets is not None))
                if archived:  # (said once, however many moves queued it: archived_channels.py, say_moved)
                    await self._store.queue_effect(SayChannelMoved(incident.id, archived[-1]),
                                                   self._clock.now().timestamp())
                footprint.channel_id, footprint.channel_name = channel.id, channel.name
            elif retry:  # saved by an earlier attempt, which may have failed to read a rename (channel_events.py)
                remember_channel.append(renamed_as_it_opened(self._store, self._chat, self._clock, footprint,
                                                             tickets=self._tickets is not None))
            channel_id = footprint.channel_id
            # Read once the channel exists, as the card and the topic each read it before: one read for both.
            ticket_view = await self._card.ticket_view(incident, footprint)
            await run_all(
                *remember_channel,
                self._card.set_topic(incident, footprint, ticket_view),
                self._invitations.when_known(incident, footprint, responders),
                self._card.post(incident, footprint, channel_id, retry=retry, since=since, pin=True, view=ticket_view),
                self._team.announce(incident, footprint, channel_id, retry=retry, since=since),
            )
            self._refresh_homes(incident)
            # A retry too: an earlier attempt may have saved the channel and failed before telling the ticket.
            if (remember_channel or retry) and self._tickets is not None:
                await self._tickets.tell_the_channel(incident.id)
        except Exception:
            if not retry and footprint.channel_id is None and self._tickets is not None:
                # The channel did not open (Slack down?): the ticket's first lines, waiting for its link, go now
                # without it (ticket_sync.py); the link follows once a retry opens the channel.
                try:
                    await self._store.queue_effect(SyncTicket(incident.id, no_channel=True),
                                                   self._clock.now().timestamp())
                except Exception:  # the opening's own failure is what the dispatcher must hear; the flush job
                    log.warning("incident %s: its ticket's lines wait for the flush job (the store did not take "
                                "their sync)", incident.id, exc_info=True)
            raise
        finally:
            if not responders.done():
                responders.cancel()
            elif not responders.cancelled():
                responders.exception()  # retrieved here when a failure elsewhere meant nobody awaited it

    async def _responders(self, incident: Incident) -> list[Responder]:
        """Whom its channel invites: assignees, those asked to respond, and role holders (a channel opened anew, after
        its own was archived or deleted, has its commander too)."""
        found = await self._people.responders(list(dict.fromkeys((*people_of(incident), *incident.responders))))
        return [*found, *(Responder("", holder.name, holder.slack_user_id) for holder in incident.roles)]

    async def _in_team_channel(self, incident: Incident, footprint: SlackFootprint, *, retry: bool,
                               since: float) -> None:
        """The incident's card in its team channel (or the default one: archived_channels.py), unpinned."""
        await self._archived.in_team_channel(incident, lambda channel, look_in: self._card.post(
            incident, footprint, channel, retry=retry, since=since, pin=False, look_in=look_in))
        if footprint.card_ts is None:  # every channel it may go to archived: no card to refresh for the ticket
            refresh_card_if_ticket(incident.id, True, self._clock.now().timestamp())  # (it looped refreshing)
        self._refresh_homes(incident)

    def _refresh_homes(self, incident: Incident) -> None:
        """The App Homes of the people the incident concerns, now that its channel is open for them to link (in the
        background, by this replica's publisher: best effort, coalesced per person)."""
        if self._home is not None:
            self._home.refresh_soon(HomesToRefresh(incident.id, people_of(incident), role_holders_of(incident)))
