"""Performing outbox effects against Slack: each executor converges on the intended result when replayed.

"Look before you create": the channel found by name and creator, messages found by the marker in their metadata,
and every external id (channel id, card ts, pin) remembered the moment it is known. An executor that fails raises
IntegrationError; the dispatcher decides about retrying.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Literal, Protocol

from bot.catalogue import Catalogue
from bot.domain.effects import (
    AlertOperators,
    ArchiveChannel,
    AttachReview,
    CompleteHandover,
    DraftReview,
    Effect,
    InviteResponders,
    OpenIncidentChannel,
    PostHandover,
    PostTimelineEntry,
    ReadKeyMessage,
    RefreshCard,
    RefreshHomes,
    SayChannelMoved,
    SyncTicket,
    TellNewTeam,
)
from bot.domain.exposure import IncidentExposure
from bot.domain.home import HomesToRefresh, people_of, role_holders_of
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry
from bot.errors import IntegrationError
from bot.ports import Chat, Clock
from bot.ports.store import (
    Deduplication,
    FootprintChange,
    IncidentInSlack,
    Incidents,
    Outbox,
    SlackFootprint,
    SlackFootprints,
    TicketRecords,
)
from bot.render import card as cards
from bot.render import status_updates as update_render
from bot.services.archived_channels import ArchivedChannels
from bot.services.archiving import Archiving
from bot.services.bookkeeping import refresh_card_if_ticket, remember_footprint, remember_timeline_ts
from bot.services.calculator import incident_exposure
from bot.services.card_ticket import ticket_view
from bot.services.channel_creation import ensure_channel
from bot.services.channel_events import remember_opened_channel, renamed_as_it_opened
from bot.services.contributions import Contributions
from bot.services.coordination_effects import TOOLKIT_EFFECTS, CoordinationEffects
from bot.services.handovers import Handovers
from bot.services.home import AppHome
from bot.services.invitations import Invitations
from bot.services.markers import LOOKBACK_SECONDS, find_posted_in, marker_metadata
from bot.services.operators_channel import alert_operators
from bot.services.people import People, Responder
from bot.services.reviews import Reviews
from bot.services.team_channel import TeamChannel
from bot.services.ticket_sync import TicketSync

log = logging.getLogger(__name__)


class ExecutorStore(Incidents, SlackFootprints, TicketRecords, Outbox, Deduplication, Protocol):
    """What performing Slack effects needs of the store: the incident and its timeline, its Slack footprint, its
    ticket and ServiceNow queue (shown on the card), and the deduplication of operators' alerts."""


class EffectExecutor:
    def __init__(self, store: ExecutorStore, chat: Chat, people: People, catalogue: Catalogue, clock: Clock,
                 tickets: TicketSync | None = None, handovers: Handovers | None = None, *,
                 coordination: CoordinationEffects | None = None, reviews: Reviews | None = None,
                 archiving: Archiving | None = None, home: AppHome | None = None,
                 contributions: Contributions | None = None) -> None:
        self._store, self._chat, self._people, self._catalogue, self._clock = store, chat, people, catalogue, clock
        self._tickets, self._handovers = tickets, handovers
        self._coordination, self._contributions = coordination, contributions
        self._reviews, self._archiving, self._home = reviews, archiving, home
        # What each service puts at stake, worked out once (the catalogue is frozen): every card render shows it.
        self._exposures: dict[str, IncidentExposure | None] = {}
        self._invitations = Invitations(store, chat, clock)
        self._archived = ArchivedChannels(store, chat, catalogue, clock, self._open_anew)
        self._team = TeamChannel(store, chat, catalogue, self._archived)

    async def _open_anew(self, incident: Incident, since: float) -> None:
        """The incident's channel opened again (its own archived, or its team's gone), its ticket told the new one's
        link: queued first, so that a failure of the opening (its retry no move) or a crash cannot lose it."""
        if self._tickets is not None:
            await self._store.queue_effect(SyncTicket(incident.id, channel_moved=True), self._clock.now().timestamp())
        await self._open_channel(incident, retry=False, since=since)

    def _exposure(self, service_id: str) -> IncidentExposure | None:
        if service_id not in self._exposures:
            self._exposures[service_id] = incident_exposure(self._catalogue, service_id)
        return self._exposures[service_id]

    async def after_done(self, effect: Effect) -> None:
        """Nothing: an effect's follow-ups ride with its outcome (bot/services/bookkeeping.py)."""

    async def _ticket_view(self, incident: Incident, footprint: SlackFootprint,
                           found: IncidentInSlack | None = None) -> cards.TicketView | None:
        return None if self._tickets is None else await ticket_view(self._store, incident, footprint, found)

    @property
    def reads(self) -> dict[str, bool]:
        """The effect kinds that start from their incident (`incident_in_slack`), with whether they need its ticket:
        the dispatcher has the claim read it (`Dispatcher`'s `reads`), saving a store call per effect."""
        slack = {OpenIncidentChannel.kind: False, RefreshCard.kind: self._tickets is not None,
                 PostTimelineEntry.kind: False, InviteResponders.kind: False}
        return slack | (TicketSync.READS if self._tickets is not None else {})

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        """`retry` is true when an earlier attempt may have half-done this effect; `found`: its incident as the
        claim read it (`reads`), else read here."""
        if isinstance(effect, PostHandover | CompleteHandover):
            if self._handovers is not None:
                await self._handovers.perform(effect, retry=retry, created_at=created_at)
            return
        if isinstance(effect, DraftReview | AttachReview | ArchiveChannel):
            await self._after_incident(effect, retry=retry, created_at=created_at)
            return
        if isinstance(effect, TOOLKIT_EFFECTS):
            if self._coordination is not None:
                await self._coordination.perform(effect, retry=retry, created_at=created_at, archived=self._archived)
            return
        if TicketSync.takes(effect):
            if self._tickets is not None:
                await self._tickets.perform(effect, retry=retry, found=found)
            return
        if isinstance(effect, AlertOperators):
            await alert_operators(self._chat, self._catalogue.channels, effect, created_at=created_at, retry=retry)
            return
        if isinstance(effect, ReadKeyMessage):
            if self._contributions is not None:
                await self._contributions.read_key_message(effect)
            return
        if isinstance(effect, RefreshHomes):
            if self._home is not None:
                await self._home.refresh_for(effect.pagerduty_user_ids, effect.slack_user_ids)
            return
        # The incident, its footprint and (for a card refresh) its ticket in one store call. A channel's opening reads
        # the ticket once its channel exists (an HTTP call later): read before, it would show a ticket opened
        # meanwhile as missing, and the card and topic would need one more refresh each.
        if found is None:
            found = await self._store.incident_in_slack(effect.incident_id, with_ticket=self._tickets is not None
                                                        and isinstance(effect, RefreshCard))
        incident = found.incident
        if incident is None:
            return
        since = created_at - LOOKBACK_SECONDS
        match effect:
            case OpenIncidentChannel():
                await self._open_channel(incident, retry=retry, since=since, footprint=found.footprint)
            case RefreshCard():
                await self._archived.unless_archived(incident, self._refresh(incident, found, retry=retry,
                                                                                    since=since), since,
                                                     found.footprint)
            case PostTimelineEntry(entry_id=entry_id):
                await self._archived.unless_archived(incident, self._post_entry(incident, found.footprint, entry_id,
                                                                       retry=retry, since=since,
                                                                       read=found.entry), since,
                                                     found.footprint)
            case TellNewTeam(from_service=old):
                await self._team.tell_new_team(incident, found.footprint, old, since=since)
            case SayChannelMoved(old_channel_id=old):
                await self._archived.say_moved(incident, found.footprint, old, since)
            case InviteResponders(user_ids=user_ids):
                footprint = found.footprint
                if footprint.in_own_channel(incident) and footprint.channel_id:  # (removed, archived: as any step)
                    await self._archived.unless_archived(incident, self._invitations.invite(
                        incident, footprint, await self._people.responders(user_ids)), since, footprint)

    async def _after_incident(self, effect: DraftReview | AttachReview | ArchiveChannel, *, retry: bool,
                              created_at: float) -> None:
        """The review and archiving effects (bot/services/reviews.py, archiving.py)."""
        if isinstance(effect, DraftReview) and self._reviews is not None:
            await self._reviews.draft(effect, retry=retry, created_at=created_at)
        elif isinstance(effect, AttachReview) and self._reviews is not None:
            await self._reviews.attach(effect)
        elif isinstance(effect, ArchiveChannel) and self._archiving is not None:
            await self._archiving.archive(effect, retry=retry, created_at=created_at)

    # -- open the channel ------------------------------------------------------------------------------------

    async def _open_channel(self, incident: Incident, *, retry: bool, since: float,
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
            ticket_view = await self._ticket_view(incident, footprint)
            await _all(
                *remember_channel,
                self._set_topic(incident, footprint, ticket_view),
                self._invitations.when_known(incident, footprint, responders),
                self._post_card(incident, footprint, channel_id, retry=retry, since=since, pin=True, view=ticket_view),
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
        await self._archived.in_team_channel(incident, lambda channel, look_in: self._post_card(
            incident, footprint, channel, retry=retry, since=since, pin=False, look_in=look_in))
        if footprint.card_ts is None:  # every channel it may go to archived: no card to refresh for the ticket
            refresh_card_if_ticket(incident.id, True, self._clock.now().timestamp())  # (it looped refreshing)
        self._refresh_homes(incident)

    def _refresh_homes(self, incident: Incident) -> None:
        """The App Homes of the people the incident concerns, now that its channel is open for them to link (in the
        background, by this replica's publisher: best effort, coalesced per person)."""
        if self._home is not None:
            self._home.refresh_soon(HomesToRefresh(incident.id, people_of(incident), role_holders_of(incident)))

    async def _set_topic(self, incident: Incident, footprint: SlackFootprint,
                         view: cards.TicketView | Literal[False] | None = False) -> None:
        """`view`: the ticket as the card just showed it (read again when not given)."""
        text = cards.topic(incident, await self._ticket_view(incident, footprint) if view is False else view)
        if footprint.channel_id and footprint.topic != text \
                and not await self._archived.still_removed(incident, footprint):  # (until invited back)
            await self._chat.set_topic(footprint.channel_id, text)
            await remember_footprint(self._store, incident.id, topic=text)

    async def _post_card(self, incident: Incident, footprint: SlackFootprint, channel: str, *, retry: bool,
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
                shown = await self._ticket_view(incident, footprint) if view is False else view
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
            await _all(remember_card, *([self._pin(incident, footprint, channel)] if pin else []))
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

    # -- later events ----------------------------------------------------------------------------------------

    async def _refresh(self, incident: Incident, found: IncidentInSlack, *, retry: bool, since: float) -> None:
        footprint = found.footprint
        if footprint.channel_id is None or footprint.card_ts is None:
            # Effects run in order per incident, so the channel's opening has run before this and failed for good
            # (a dead effect): try again now, converging on whatever it did get done.
            if incident.channel_requested and incident.status is not Status.RESOLVED:
                await self._open_channel(incident, retry=True, since=since, footprint=footprint)
            return
        view = await self._ticket_view(incident, footprint, found)
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
            await _all(self._set_topic(incident, footprint, view), self._pin_again(incident, footprint))

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
        await self._post_card(incident, footprint, footprint.channel_id, retry=retry, since=since,
                              pin=footprint.in_own_channel(incident), view=view)

    async def _post_entry(self, incident: Incident, footprint: SlackFootprint, entry_id: str, *, retry: bool,
                          since: float, read: tuple[TimelineEntry, str | None] | None = None) -> None:
        """`read`: the line and its Slack ts as the effect's claim read them (else read here)."""
        found = read if read is not None and read[0].id == entry_id else await self._store.timeline_entry(entry_id)
        if found is None or found[1] is not None:
            return
        entry = found[0]
        if footprint.channel_id is None:
            if incident.status is Status.RESOLVED and footprint.card_ts is None:
                return  # first seen resolved: there is no channel to tell
            if not incident.channel_requested:
                raise IntegrationError("slack", "the incident channel is not open yet", retryable=True)
            # No channel or card for the line: its opening (run before this, in order) failed for good, or it was
            # resolved before it opened and is open again, or every channel its card may go to is archived (the
            # operators were told). Opened here; still none, the line stays on the timeline.
            await self._open_channel(incident, retry=True, since=since, footprint=footprint)
            if footprint.channel_id is None or footprint.card_ts is None:
                return
        marker = f"entry:{entry_id}"
        thread = None if footprint.in_own_channel(incident) else footprint.card_ts
        posted = await self._chat.find_posted(footprint.channel_id, marker, since, thread) if retry else None
        if posted is None:
            text = cards.timeline_line(entry.occurred_at, entry.text, cards.full_entry_at(incident, entry.kind))
            blocks = None
            update = next((u for u in incident.status_updates if u.id == entry_id and u.source == "slack"), None)
            if update is not None:  # a status update's line is the update itself, formatted as one
                text, blocks = update_render.update_message(incident, update)
            posted = await self._chat.post_message(footprint.channel_id, text, blocks, thread_ts=thread,
                                                   metadata=marker_metadata(marker))
        await remember_timeline_ts(self._store, entry_id, posted.ts)


async def _all(*steps: Awaitable[None]) -> None:
    """Run steps concurrently and wait for *every* one to finish before reporting the first failure: a step left
    running after its sibling failed would race the retry and could post the same thing twice."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

