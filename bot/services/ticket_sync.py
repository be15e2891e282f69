"""Keeping ServiceNow in step: one ticket per incident, the timeline as batched work notes, the state both ways.

Each effect converges when replayed: the ticket is found by correlation id before one is created; a work note
carries a marker that is looked for in the ticket's journal before it is written again; the state is only set when
it differs. A Closed or Canceled ticket is never written to: an incident open again goes on in a follow-on ticket
(ticket_follow_ons.py). A ticket is one incident's: one the store records as another incident's (two PagerDuty
incidents keyed to it) is never taken over. The state the desk leaves a ticket in is recorded from its deliveries,
and one the desk resolved is not set back to In Progress, nor its close notes written over. The ticket follows the
incident renamed and moved (its short description and description's lines: ticket_description.py; a move to another
team's service, its assignment group: ticket_groups.py); its close notes are ticket_closing.py's. Tickets that page
teams are ticket_pages.py's.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import ClassVar, Protocol

from bot.catalogue import Catalogue
from bot.domain.effects import Effect
from bot.domain.effects.pagerduty import RaisePageUrgency
from bot.domain.effects.servicenow import (
    CommentOnTicket,
    NoteOnTicket,
    OpenTicket,
    PageTeamForTicket,
    SyncTicket,
    UpdateTicketLevels,
)
from bot.domain.incident import Incident, Status
from bot.domain.ticket_rules import (
    CANCELED,
    CLOSED,
    DESK_REOPEN_KIND,
    DESK_STATE_KIND,
    IN_PROGRESS,
    RESOLVED,
    TICKET_KEY,
    needs_timeline,
    wanted_state,
)
from bot.domain.timeline import TimelineEntry, resolution_in
from bot.domain.toolkit import UPDATE_KIND
from bot.errors import IntegrationError
from bot.ports import Clock, Paging, Tickets
from bot.ports.store import (
    Deduplication,
    Inbox,
    IncidentInSlack,
    Incidents,
    Outbox,
    SlackFootprint,
    SlackFootprints,
    TicketRecords,
    TicketRow,
)
from bot.render.format import ENTRY_TEXT, clip, full_text_at
from bot.services.bookkeeping import (
    refresh_card_for_ticket,
    refresh_card_once_synced,
    remember_noted,
    remember_ticket,
)
from bot.services.ticket_closing import Closing, channel_link
from bot.services.ticket_description import (
    LONG_TEXT,
    NO_GROUP,
    channel_made_as,
    channel_moved,
    channel_renamed,
    description_followed,
    new_description,
    short_description,
)
from bot.services.ticket_follow_ons import FollowOns
from bot.services.ticket_groups import group_of, tell_no_group
from bot.services.ticket_pages import TicketPages, journal_note, note_once

log = logging.getLogger(__name__)
IN_PAGERDUTY = full_text_at("PagerDuty")
LINK_LINE = "Slack channel for this incident: "
# TicketRow.channel_told: 0 the ticket has not been given the channel's link; LINK_SENT a note of the link alone may
# have been sent (look in the journal before sending it again); LINK_TOLD it has it.
LINK_SENT, LINK_TOLD = 2, 1
# The lines that change what a resolved ticket's close notes say of the incident's times, whenever they come.
LATE_KINDS = ("acknowledged", "resolved")
# How long after an incident is triggered its first lines may wait for its channel to open (to go with its link).
CHANNEL_GRACE_SECONDS = 60.0


class TicketSyncStore(Incidents, TicketRecords, SlackFootprints, Outbox, Deduplication, Inbox, Protocol):
    """What keeping ServiceNow in step needs of the store: the incident and its timeline, the ticket, whether the card
    shows the sync pending, the ServiceNow queue (how much waits, and the card refresh once it drains), what the
    operators were told already, and a page's raise PagerDuty took (recorded for the incident)."""


class TicketSync:
    def __init__(self, store: TicketSyncStore, tickets: Tickets, paging: Paging, catalogue: Catalogue,
                 clock: Clock, integration_user: str) -> None:
        self._store, self._tickets, self._paging, self._catalogue = store, tickets, paging, catalogue
        self._clock, self._integration_user = clock, integration_user
        self._follow_ons = FollowOns(store, tickets, clock)
        self._pages = TicketPages(store, tickets, paging, catalogue, clock)
        self._closing = Closing(store, tickets, catalogue, clock)

    # The effect kinds that start from their incident with its ticket (what the dispatcher's claim may read for them).
    READS: ClassVar[dict[str, bool]] = {OpenTicket.kind: True, SyncTicket.kind: True, CommentOnTicket.kind: True,
                                        UpdateTicketLevels.kind: True, RaisePageUrgency.kind: False}

    @staticmethod
    def takes(effect: Effect) -> bool:
        """Whether the effect is this service's: ServiceNow's, and the pages tickets made (in PagerDuty's lane)."""
        return effect.system == "servicenow" or isinstance(effect, RaisePageUrgency)

    async def perform(self, effect: Effect, *, retry: bool, found: IncidentInSlack | None = None) -> None:
        """`found`: the effect's incident with its ticket, as its claim read it (else read here)."""
        match effect:
            case RaisePageUrgency():
                await self._pages.raise_urgency(effect, found)
            case PageTeamForTicket() | NoteOnTicket():
                try:
                    if isinstance(effect, PageTeamForTicket):
                        await self._pages.page_team(effect, retry=retry)
                    else:
                        await self._pages.note_for_the_desk(effect, retry=retry)
                except IntegrationError as error:
                    # The desk closed the ticket meanwhile (a duplicate, a false alarm): no write to it is taken,
                    # and nobody is left to tell — a page made stands, a note or an alert for it is moot.
                    if (state := await self._follow_ons.refused_as_closed(effect.incident_id, error)) is None:
                        raise
                    log.info("ticket %s was closed (state %s) before the bot wrote to it: %s let go",
                             effect.incident_id, state, effect.kind)
            case OpenTicket() | SyncTicket() | CommentOnTicket() | UpdateTicketLevels():
                # The card says "sync pending" while ServiceNow lags: refreshed when this effect's failure starts
                # the lag, or its success ends it.
                refresh_card_once_synced(effect.incident_id, self._clock.now().timestamp())
                # The incident, its ticket and its Slack footprint in one store call (three trips otherwise).
                if found is None or found.ticket_queue_pending is None:
                    found = await self._store.incident_in_slack(effect.incident_id, with_ticket=True)
                incident = found.incident
                if incident is None:
                    return
                ticket, footprint = found.ticket, found.footprint
                if isinstance(effect, SyncTicket) and effect.desk_ticket:
                    await self._desk_left(effect, ticket)
                    return
                opened = ticket is None
                if isinstance(effect, OpenTicket) and (opened or retry):  # the card shows the ticket: refreshed once
                    await refresh_card_for_ticket(self._store, incident.id, self._clock.now().timestamp())  # done
                if ticket is None:
                    ticket = await self._open(incident, footprint, retry=retry)
                    # Read again once the ticket is saved: the channel may have opened while the ticket was made
                    # (an HTTP call), and its opening told no ticket yet — the link must ride in this sync.
                    footprint = await self._store.footprint(incident.id)
                await self._on_ticket(effect, incident, ticket, footprint, retry=retry, opened=opened)

    async def _desk_left(self, effect: SyncTicket, ticket: TicketRow | None) -> None:
        """Record the state a person's update left the incident's ticket in (resolved, cancelled, opened again), so
        that no sync sets it back; nothing is written to ServiceNow (the next line's sync goes on from it). A ticket
        the incident no longer goes on in (a follow-on took over), or not yet recorded, is left as it is."""
        if ticket is not None and ticket.sys_id == effect.desk_ticket and ticket.state != effect.desk_state:
            await remember_ticket(self._store, replace(ticket, state=effect.desk_state))

    async def _on_ticket(self, effect: OpenTicket | SyncTicket | CommentOnTicket | UpdateTicketLevels,
                         incident: Incident, ticket: TicketRow, footprint: SlackFootprint, *, retry: bool,
                         opened: bool = False) -> None:
        """The effect on the incident's ticket, or — that ticket Closed, as known or as ServiceNow's refusal tells
        (then once more) — on its follow-on (ticket_follow_ons.py); never a write to a Closed or Canceled one. An
        OpenTicket on a ticket already known (the incident renamed in PagerDuty) gives it the incident's title."""
        learnt = asked = False
        while True:
            if ticket.state == CANCELED and incident.status is not Status.RESOLVED and not asked:
                ticket, asked = await self._follow_ons.as_now(ticket), True  # set back by the desk since (a mistake)?
            if ticket.state in CLOSED:
                # No follow-on when both sides are done with it, nor for a ticket the desk canceled (a duplicate, an
                # error: theirs to say; made again, it would be canceled again, a new ticket at each line).
                if incident.status is Status.RESOLVED or ticket.state == CANCELED:
                    if isinstance(effect, SyncTicket):
                        await self._follow_ons.let_go(incident.id, ticket)
                    return
                fields = self._new_ticket(incident, footprint)
                ticket, opened = await self._follow_ons.follow_on(incident, ticket, fields), True
            try:
                if isinstance(effect, SyncTicket) and effect.channel_renamed:
                    if footprint.channel_name and footprint.in_own_channel(incident) and (
                            told := await channel_renamed(self._tickets, ticket.sys_id, footprint.channel_name,
                                                          channel=footprint.channel_id or "",
                                                          link_told=ticket.channel_told == LINK_TOLD)):
                        await self._tickets.update(ticket.sys_id, told)
                elif isinstance(effect, SyncTicket):
                    await self._sync(incident, ticket, footprint, retry=retry or effect.no_channel,
                                     moved=effect.channel_moved)
                elif isinstance(effect, CommentOnTicket):
                    await self._comment(incident, ticket, effect.update_id, retry=retry)
                elif isinstance(effect, UpdateTicketLevels):
                    levels = self._catalogue.servicenow.impact_urgency(incident.urgency, incident.priority)
                    await self._tickets.update(ticket.sys_id, {"impact": levels.impact, "urgency": levels.urgency})
                elif not opened and not (incident.incident_key or "").startswith(TICKET_KEY):
                    # Renamed (or its number learnt late): the short description and the description's title line
                    # follow; a ticket that paged the incident keeps the desk's words (told of a rename in a work note:
                    # the incident's decision, bot/domain/incident.py).
                    await self._tickets.update(ticket.sys_id, {"short_description": short_description(incident)} | (
                        await description_followed(self._tickets, self._catalogue, incident, ticket.sys_id)))
                return
            except IntegrationError as error:
                closed = None if learnt else await self._follow_ons.closed_now(ticket, error)
                if closed is None:
                    raise
                ticket, learnt = closed, True

    async def _comment(self, incident: Incident, ticket: TicketRow, update_id: str, *, retry: bool) -> None:
        """A status update as a customer-visible comment, for the service desk to answer callers with; looked for
        in the ticket's comments first when an earlier attempt may have written it."""
        update = next((u for u in incident.status_updates if u.id == update_id), None)
        if update is None:  # let go by the incident (coordination.kept_updates), as the other copies of it say
            log.warning("status update %s on %s is no longer kept by the incident: not commented on the ticket",
                        update_id, incident.id)
            return
        text = clip(f"Status update ({update.at:%d %b %H:%M} UTC, {update.author}):\n{update.message}", LONG_TEXT)
        # Only the bot's own comments: a desk agent's quoting the update is theirs (it must not stand in for it).
        if retry and any(text in comment for comment in await self._tickets.comments(ticket.sys_id, own=True)):
            return
        await self._tickets.update(ticket.sys_id, {"comments": text})

    async def _open(self, incident: Incident, footprint: SlackFootprint, *, retry: bool) -> TicketRow:
        """The incident's ticket, not yet known to the store: found in ServiceNow, else created; then saved. A ticket
        found that the store records as another incident's stays that one's: this incident gets a ticket of its own
        (two PagerDuty incidents keyed to one ticket — a reassigned ticket's second page, a re-trigger with its key on
        another service — are two incidents to the desk too, each with its own timeline and state). One a failed
        attempt made with no group (its description says so) may not have been told to the operators: told now,
        unless it was (tell_no_group)."""
        found = await self._tickets.find(incident.id)
        if found is not None and not await self._ours(incident, found.sys_id):
            found = None
        if found is not None and retry and group_of(self._catalogue, incident.service_id) is None and \
                NO_GROUP in await self._tickets.description(found.sys_id):
            await tell_no_group(self._store, self._clock, self._catalogue, incident, found.number)
        if found is None and incident.incident_key and incident.incident_key.startswith(TICKET_KEY):
            # Paged by a ticket: that ticket is this incident's, even before it has been linked back.
            found = await self._tickets.get(incident.incident_key.removeprefix(TICKET_KEY))
            if found is not None and not await self._ours(incident, found.sys_id):
                found = None
            elif found is not None and found.state not in CLOSED:  # a closed one takes no write: followed on
                try:
                    await self._tickets.update(found.sys_id, {"correlation_id": incident.id})
                except IntegrationError as error:  # closed since it was read (the desk, a duplicate): as above
                    if (state := await self._follow_ons.refused_as_closed(found.sys_id, error)) is None:
                        raise
                    found = replace(found, state=state)
        if found is None:
            fields = self._new_ticket(incident, footprint)
            found = await self._tickets.create(fields)
            log.info("created ServiceNow ticket %s for incident %s", found.number, incident.id)
            if "assignment_group" not in fields:
                await tell_no_group(self._store, self._clock, self._catalogue, incident, found.number)
        row = TicketRow(incident.id, found.sys_id, found.number, found.link, found.state)
        # At once: the channel's opening reads it after saving the channel, to send the link if this sync missed it.
        await remember_ticket(self._store, row, at_once=True)
        return row

    async def _ours(self, incident: Incident, sys_id: str) -> bool:
        """Whether the ticket may be `incident`'s: the store records it as no other incident's."""
        owner = await self._store.ticket_by_sys_id(sys_id)
        if owner is None or owner.incident_id == incident.id:
            return True
        log.warning("incident %s names ServiceNow ticket %s (%s), which is incident %s's: it gets a ticket of its own",
                    incident.id, owner.number, sys_id, owner.incident_id)
        return False

    def _new_ticket(self, incident: Incident, footprint: SlackFootprint) -> dict[str, str]:
        sync = self._catalogue.servicenow
        levels = sync.impact_urgency(incident.urgency, incident.priority)
        group = group_of(self._catalogue, incident.service_id)
        fields = {
            "short_description": short_description(incident),
            "description": new_description(self._catalogue, incident, footprint.channel_name
                                           if footprint.channel_id and footprint.in_own_channel(incident) else None),
            "impact": levels.impact, "urgency": levels.urgency, "correlation_id": incident.id,
            "caller_id": sync.caller, "opened_by": sync.caller, "state": "1",
        }
        if group:
            fields["assignment_group"] = group
        return fields

    async def _sync(self, incident: Incident, ticket: TicketRow, footprint: SlackFootprint, *, retry: bool,
                    moved: bool = False) -> None:
        """The lines not yet told as one work note — with the Slack channel's link the first time the channel
        exists — and the ticket's state, in one update (each update the bot makes is also a call back from the
        business rule)."""
        if moved and footprint.channel_id is None and incident.dedicated_channel:
            if incident.status is not Status.RESOLVED:
                # Queued as the new channel began to open (executor.py, _open_anew): told once it exists.
                raise IntegrationError("servicenow", "the incident's new Slack channel is not open yet",
                                       retryable=True, retry_after=5)
            if ticket.channel_told:
                # Resolved again before it opened: the sync goes on without a link. Should the incident reopen once
                # more and a channel open after all, its opening tells the ticket (`tell_the_channel`): the
                # link the ticket has is the archived channel's, no longer told.
                ticket = replace(ticket, channel_told=0)
                await remember_ticket(self._store, ticket)
        retry = retry or moved  # told the new link already, should another move's sync or a retry have come first
        url = None if ticket.channel_told == LINK_TOLD and not moved else channel_link(footprint)
        link = f"{LINK_LINE}{url}" if url else None  # the note's line giving the ticket the channel
        if self._channel_on_its_way(incident, ticket, footprint) and not retry:
            # Its opening asks for a sync once the channel is saved (`tell_the_channel`): that
            # one tells these lines with the link, in one update. Told now, they would go without it, and the link
            # alone after them (an update more, and its call back from the business rule).
            return
        batch = await self._store.work_note_batch(incident.id)
        told = [e for e in batch.entries if e.kind != UPDATE_KIND]  # status updates reach the ticket as comments
        fields: dict[str, str] = {}
        link_in_note = False
        if told:
            marker = f"[paved-road {batch.id}]"
            # A batch this call began cannot be in the journal yet: only a resumed one (an earlier attempt, of this
            # effect or of one that failed after sending it, may have delivered it) is looked for first.
            found = await journal_note(self._tickets, ticket.sys_id, marker) if batch.resumed else None
            if found is None:
                # The link rides in the note unless a note of the link alone may have gone already (LINK_SENT).
                link_in_note = link is not None and ticket.channel_told == 0
                # Each entry whole up to ENTRY_TEXT (a pasted log is cut there), so the marker always follows.
                lines = [f"{e.occurred_at:%H:%M:%S}Z {clip(e.text, ENTRY_TEXT, IN_PAGERDUTY)}" for e in told]
                fields["work_notes"] = "\n".join([*([link] if link and link_in_note else []), *lines, marker])
            else:
                link_in_note = link is not None and link in found
        if link is not None and not link_in_note:
            await self._tell_channel_alone(ticket, link, retry=retry)
        # Read once for the state wanted, the desk's word, the close notes and a merge's note (each may need it).
        timeline = await self._store.timeline(incident.id) if needs_timeline(incident, ticket.state) else []
        wanted = wanted_state(incident, ticket.state, timeline)
        # What the close notes say came after them: the resolution note, an acknowledgement delivered late (TTA), or
        # a resolve (TTR: a later one delivered after the ticket was resolved at an earlier one, whose reopening
        # comes late or not at all).
        late = wanted == RESOLVED == ticket.state and any(resolution_in(e) is not None or e.kind in LATE_KINDS
                                                          for e in batch.entries)
        if any(e.kind == "service_updated" for e in batch.entries):  # moved to another service
            if group := group_of(self._catalogue, incident.service_id):
                fields["assignment_group"] = group  # another team's: the ticket goes to its queue
            fields |= await description_followed(self._tickets, self._catalogue, incident, ticket.sys_id)
        if link is not None and not moved and footprint.channel_name:
            # The first link: a ticket opened before its channel named the pattern's name, the channel a suffixed one.
            fields |= await channel_made_as(self._tickets, self._catalogue, incident, ticket.sys_id,
                                            footprint.channel_name, fields.get("description"))
        if moved and link is not None and footprint.channel_name:  # its Slack line names the new channel too
            fields |= await channel_moved(self._tickets, ticket.sys_id, footprint.channel_name,
                                          fields.get("description"), channel=str(footprint.channel_id))
        if late or (wanted in (IN_PROGRESS, RESOLVED) and wanted != ticket.state):
            timeline = timeline or await self._store.timeline(incident.id)
            desk_resolved, desk_reopened = _desk_did(timeline, ticket.number)
            if (late or wanted == IN_PROGRESS != ticket.state == RESOLVED) and desk_resolved:
                late, wanted = False, None  # the desk resolved it, in its own words: theirs to open again
            elif wanted == RESOLVED != ticket.state and desk_reopened and not any(
                    e.kind == "resolved" for e in batch.entries):
                # The ticket was told the incident's resolve (with the state, in one update) and the desk opened it
                # again since: a later line is no resolve, only a new one (told in its sync) ends it (found in review).
                wanted = None
        if late:  # the resolution came late (or a resolve: it may be a merge, its close code and parent with it)
            fields |= await self._closing.resolved(incident, ticket, footprint, timeline)
        elif wanted is not None and wanted != ticket.state:
            fields["state"] = wanted
            if wanted == RESOLVED:
                fields |= await self._closing.resolved(incident, ticket, footprint, timeline)
        noted: list[str] = [e.id for e in batch.entries]
        if "work_notes" not in fields:
            # Nothing to send (the note was found in the journal, or only status updates wait): the lines are in
            # the ticket whatever the state change meets, and a state refused for good must not hold back later ones.
            await remember_noted(self._store, noted)
        if fields:
            # The note and the state together: a retry after an unknown outcome finds the note by its marker (the
            # batch is then resumed) and sets the state again, which changes nothing if it was set.
            try:
                await self._update_noting(ticket.sys_id, fields, noted)
            except IntegrationError as error:
                # A merge's resolve the instance refuses as a duplicate: resolved as any other, the operators told.
                if (solved := self._closing.as_solved(fields, error)) is None:
                    raise
                await self._update_noting(ticket.sys_id, solved, noted)
                await self._closing.tell_refused(incident, ticket, fields, error)
        await remember_noted(self._store, noted)
        if "state" in fields or link is not None:
            await remember_ticket(self._store, TicketRow(ticket.incident_id, ticket.sys_id, ticket.number, ticket.link,
                                                    fields.get("state", ticket.state),
                                                    LINK_TOLD if link is not None else ticket.channel_told))
        if fields.get("state") == RESOLVED or (retry and ticket.state == RESOLVED == wanted):
            # A merge's note, once the ticket is resolved as it says; after the state is recorded (kept with a
            # retry's outcome too), so that a retry (the note failed, or waits for the surviving incident's ticket)
            # tells it without resolving the ticket again (found in review: each retry for an hour re-resolved it).
            await self._closing.tell_merged_into(incident, ticket, timeline or await self._store.timeline(incident.id))

    async def _update_noting(self, sys_id: str, fields: dict[str, str], noted: list[str]) -> None:
        """One update of note and state; should ServiceNow refuse it for good (a close code the instance does not
        take), the note goes alone first and its lines are marked told — so the timeline keeps reaching the ticket
        even while the state change is refused — and the rest fails as before."""
        try:
            await self._tickets.update(sys_id, fields)
        except IntegrationError as error:
            # Refused credentials refuse the note too: nothing to split (the effect waits for them).
            if error.retryable or error.credentials_refused or "work_notes" not in fields or len(fields) == 1:
                raise
            await self._tickets.update(sys_id, {"work_notes": fields.pop("work_notes")})
            await remember_noted(self._store, noted)
            await self._tickets.update(sys_id, fields)

    async def _tell_channel_alone(self, ticket: TicketRow, link: str, *, retry: bool) -> None:
        """The channel's link as a note of its own (no lines to tell with it, or theirs went without it); recorded as
        LINK_SENT before it goes, so that no later note carries it unread. Looked for in the journal first when it
        may have gone: recorded as sent, or this effect tried before (its LINK_SENT, committed light, may have been
        lost with the machine). A first attempt finding it not sent need not look: an earlier effect of this queue
        that sent it finished before this one began, and its durable outcome carried its LINK_SENT to disk."""
        if ticket.channel_told != LINK_SENT:
            await remember_ticket(self._store, TicketRow(ticket.incident_id, ticket.sys_id, ticket.number,
                                                         ticket.link, ticket.state, LINK_SENT), at_once=True)
        await note_once(self._tickets, ticket.sys_id, link, retry=retry or ticket.channel_told == LINK_SENT)

    async def tell_the_channel(self, incident_id: str) -> None:
        """The incident's channel just saved (executor.py): a sync that read the footprint before it told the ticket
        no link, and nothing else would until the next timeline line. Read after the save, a ticket not yet told
        gets one sync (the sync or this read always sees the other's write, as the store runs them one at a time)."""
        ticket = await self._store.ticket(incident_id)
        if ticket is not None and ticket.channel_told != LINK_TOLD:
            await self._store.queue_effect(SyncTicket(incident_id), self._clock.now().timestamp())

    def _channel_on_its_way(self, incident: Incident, ticket: TicketRow, footprint: SlackFootprint) -> bool:
        """Whether the incident's own channel is being opened and the ticket has nothing to hear before it: no link
        sent, no state to change, the incident young (a channel that never opens holds nothing back for long: the
        next sync after CHANNEL_GRACE_SECONDS, at the latest the work-note flush job's, tells the lines)."""
        return (footprint.in_own_channel(incident) and incident.channel_requested and footprint.channel_id is None
                and ticket.channel_told == 0 and wanted_state(incident, ticket.state) in (None, ticket.state)
                and (self._clock.now() - incident.triggered_at).total_seconds() < CHANNEL_GRACE_SECONDS)


def _desk_did(timeline: list[TimelineEntry], number: str) -> tuple[bool, bool]:
    """(resolved, reopened): the desk's last word on ticket `number`'s state, in the incident's timeline — it resolved
    the ticket (and has not opened it again since), or opened it again. Recorded facts, never compared with the
    incident's lines by time (the clocks differ, and ServiceNow's counts whole seconds): found in review, an incident
    resolved after the desk's resolution wrote over the desk's close notes. Only a ticket the bot resolved is set back
    to In Progress (the incident reopened) or given the resolution that came late."""
    # This ticket's word only: a follow-on ticket is not the one the desk closed (found in review: it stayed Resolved
    # when the incident reopened).
    said_here = f"ServiceNow {number}, "
    desk = next((e.kind for e in reversed(timeline) if e.kind in (DESK_STATE_KIND, DESK_REOPEN_KIND)
                 and e.text.startswith(said_here)), None)
    return desk == DESK_STATE_KIND, desk == DESK_REOPEN_KIND
