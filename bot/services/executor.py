"""Performing outbox effects: `EffectExecutor` hands each effect to what performs it, and performs the incident's
own Slack effects (its channel, card, timeline lines and invitations). Each converges on the intended result when
replayed.

"Look before you create": the channel found by name and creator, messages found by the marker in their metadata,
and every external id (channel id, card ts, pin) remembered the moment it is known. An executor that fails raises
IntegrationError; the dispatcher decides about retrying. The channel's opening is channel_opening.py's, the card
(drawn, pinned, refreshed) incident_card.py's, and what is learnt of a channel people renamed or invited the bot back
into channel_events.py's; here are the timeline's lines, and the channel opened again for a card or a line that finds
its opening failed for good.
"""

from __future__ import annotations

from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.pagerduty import CompleteHandover
from bot.domain.effects.servicenow import AttachReview, SyncTicket
from bot.domain.effects.slack import (
    ArchiveChannel,
    DraftReview,
    InviteResponders,
    LearnBotBack,
    LearnChannelName,
    OpenIncidentChannel,
    PostHandover,
    PostTimelineEntry,
    ReadKeyMessage,
    RefreshCard,
    RefreshHomes,
    SayChannelMoved,
    TellNewTeam,
)
from bot.domain.incident import Incident, Status
from bot.domain.timeline import TimelineEntry
from bot.errors import IntegrationError
from bot.ports import Chat, Clock
from bot.ports.store import (
    Deduplication,
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
from bot.services.bookkeeping import remember_timeline_ts
from bot.services.channel_events import learn_from_slack
from bot.services.channel_opening import ChannelOpening
from bot.services.contributions import Contributions
from bot.services.coordination_effects import TOOLKIT_EFFECTS, CoordinationEffects
from bot.services.handovers import Handovers
from bot.services.home import AppHome
from bot.services.incident_card import IncidentCard
from bot.services.invitations import Invitations
from bot.services.markers import LOOKBACK_SECONDS, marker_metadata
from bot.services.operators_channel import alert_operators
from bot.services.people import People
from bot.services.reviews import Reviews
from bot.services.team_channel import TeamChannel
from bot.services.ticket_sync import TicketSync


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
        self._invitations = Invitations(store, chat, clock)
        self._archived = ArchivedChannels(store, chat, catalogue, clock, self._open_anew)
        self._team = TeamChannel(store, chat, catalogue, self._archived)
        self._card = IncidentCard(store, chat, catalogue, clock, tickets, self._archived)
        self._opening = ChannelOpening(store, chat, people, catalogue, clock, tickets, home,
                                       invitations=self._invitations, archived=self._archived, team=self._team,
                                       card=self._card)

    async def _open_anew(self, incident: Incident, since: float) -> None:
        """The incident's channel opened again (its own archived, or its team's gone), its ticket told the new one's
        link: queued first, so that a failure of the opening (its retry no move) or a crash cannot lose it."""
        if self._tickets is not None:
            await self._store.queue_effect(SyncTicket(incident.id, channel_moved=True), self._clock.now().timestamp())
        await self._opening.open(incident, retry=False, since=since)

    async def after_done(self, effect: Effect) -> None:
        """Nothing: an effect's follow-ups ride with its outcome (bot/services/bookkeeping.py)."""

    @property
    def reads(self) -> dict[str, bool]:
        """The effect kinds that start from their incident (`incident_in_slack`), with whether they need its ticket:
        the dispatcher has the claim read it (`Dispatcher`'s `reads`), saving a store call per effect."""
        slack = {OpenIncidentChannel.kind: False, RefreshCard.kind: self._tickets is not None,
                 PostTimelineEntry.kind: False, InviteResponders.kind: False, LearnChannelName.kind: False,
                 LearnBotBack.kind: False}
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
                await self._opening.open(incident, retry=retry, since=since, footprint=found.footprint)
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
            case LearnChannelName() | LearnBotBack():  # what people did to its channel (channel_events.py)
                await learn_from_slack(self._store, self._chat, self._clock, effect, incident, found.footprint,
                                       tickets=self._tickets is not None)
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

    # -- later events ----------------------------------------------------------------------------------------

    async def _refresh(self, incident: Incident, found: IncidentInSlack, *, retry: bool, since: float) -> None:
        footprint = found.footprint
        if footprint.channel_id is None or footprint.card_ts is None:
            # Effects run in order per incident, so the channel's opening has run before this and failed for good
            # (a dead effect): try again now, converging on whatever it did get done.
            if incident.channel_requested and incident.status is not Status.RESOLVED:
                await self._opening.open(incident, retry=True, since=since, footprint=footprint)
            return
        await self._card.refresh(incident, found, retry=retry, since=since)

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
            await self._opening.open(incident, retry=True, since=since, footprint=footprint)
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
