"""Tickets that page teams: a ServiceNow ticket raised (or reassigned) to a team's group pages that team in PagerDuty,
and a ticket for a group that is no team gets a note saying nobody was paged (bot/domain/ticket_rules.py decides).

Convergent on replay: the team is triggered with the ticket's sys_id in PagerDuty's incident key, and looked up by that
key on the team's own services first — in every status, so a page its team resolved while ServiceNow refused the
ticket's link is not made again — so a replay, or a second update of the ticket, finds the same PagerDuty incident.
One found on another team's service (the ticket was reassigned before its first page was made) is that team's page:
this team is paged on its own service. A ticket resolved or cancelled before PagerDuty could be reached pages nobody.
A ticket the desk raises to a high priority after it paged at low urgency has its page raised to high urgency.
Owns the journal look-ups both directions share (a note looked for before it is written again).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.coordination import UrgencyRaised
from bot.domain.effects import OPERATORS, AlertOperators, Effect
from bot.domain.effects.pagerduty import RaisePageUrgency
from bot.domain.effects.servicenow import NoteOnTicket, PageTeamForTicket
from bot.domain.incident import Status
from bot.domain.ticket_rules import DEALT_WITH, TICKET_KEY
from bot.errors import IntegrationError
from bot.ports import Clock, Paging, Tickets
from bot.ports.store import Deduplication, Inbox, IncidentInSlack, Outbox
from bot.render.format import clip
from bot.services.slack_inbox import record_from_slack

log = logging.getLogger(__name__)
# How long the operators are remembered to have heard of a ticket's note (a ticket's updates come within days).
TOLD_SECONDS = 30 * 86_400.0


class TicketPagesStore(Outbox, Deduplication, Inbox, Protocol):
    """What paging for tickets needs of the store: the operators' alert to queue, whether they heard already, and a
    raise PagerDuty took, recorded for the incident."""


async def journal_note(tickets: Tickets, sys_id: str, text: str) -> str | None:
    """The bot's own work note on the ticket holding `text`, if any: a desk agent's note quoting it (a copy of the bot's
    words, or of a timeline batch's marker) is theirs, and must not keep the bot's from being written."""
    return next((note for note in await tickets.work_notes(sys_id, own=True) if text in note), None)


async def note_once(tickets: Tickets, sys_id: str, text: str, *, retry: bool) -> None:
    """Write a work note, unless a lost earlier attempt already did (found in the journal)."""
    if retry and await journal_note(tickets, sys_id, text) is not None:
        return
    await tickets.update(sys_id, {"work_notes": text})


async def record_raise(store: Inbox, clock: Clock, effect: RaisePageUrgency, *, taken: bool) -> None:
    """What PagerDuty made of the raise, recorded for the incident once per raise: the id names the incident and the
    raise (the ticket delivery that asked for it), not the clock, so a rerun after a lost completion is a repeat and
    the first time stands (`urgency_raised_at`)."""
    at = clock.now()
    word = "raised" if taken else "raise-refused"
    which = effect.raise_id or at.isoformat()  # (an effect queued before raise_id: as before)
    await record_from_slack(store, UrgencyRaised(f"urgency-{word}:{effect.incident_id}:{which}", effect.incident_id,
                                                 at, taken=taken), at)


async def raise_given_up(store: Inbox, clock: Clock, effect: Effect) -> None:
    """A raise given up after its attempts (PagerDuty failing it every time, retryably: the dispatcher's `given_up`) is
    recorded as refused: the incident stops holding its page high against every snapshot saying low, and its card says
    the raise failed (the dead effect's alert tells the operators to raise it by hand). Other effects: nothing."""
    if isinstance(effect, RaisePageUrgency):
        await record_raise(store, clock, effect, taken=False)


class TicketPages:
    def __init__(self, store: TicketPagesStore, tickets: Tickets, paging: Paging, catalogue: Catalogue,
                 clock: Clock) -> None:
        self._store, self._tickets, self._paging = store, tickets, paging
        self._catalogue, self._clock = catalogue, clock

    async def note_for_the_desk(self, effect: NoteOnTicket, *, retry: bool) -> None:
        """The note, looked for first even on a first attempt (every update of the ticket decides it again), and the
        operators' alert with it: queued when this effect writes the note, or when its retry finds it (the first
        attempt may have written it and lost the answer) — not when a later update's effect finds it there."""
        if await journal_note(self._tickets, effect.incident_id, effect.text) is not None:
            if not retry:
                return
        else:
            await self._tickets.update(effect.incident_id, {"work_notes": effect.text})
        if effect.alert:  # claimed and queued in one transaction: as two writes, a crash between them lost it
            await self._store.first_time_then_queue(_told_key(effect.incident_id, effect.text), TOLD_SECONDS,
                                                    self._clock.now().timestamp(),
                                                    AlertOperators(OPERATORS, effect.alert))

    async def _first_told(self, sys_id: str, note: str) -> bool:
        """Whether the operators are yet to hear of this note on this ticket (then they are, from now): a retry that
        finds the note may be its own first attempt's, whose answer was lost, or a later update's effect whose first
        attempt failed before it looked (found in review: told twice). Across replicas, by the Deduplication port.
        A claim alone: the dead effect's alert is what tells them (`_cannot_page`), not an effect queued with it."""
        return await self._store.first_time(_told_key(sys_id, note), TOLD_SECONDS, self._clock.now().timestamp())

    async def page_team(self, effect: PageTeamForTicket, *, retry: bool) -> None:
        team = self._catalogue.team(effect.team_id)
        services = [s for s in self._catalogue.services if s.team == effect.team_id]
        requester = self._catalogue.servicenow.pagerduty_requester
        if team is None or not services or not requester:
            await self._cannot_page(effect, "the team is no longer in the platform catalogue" if team is None
                                    else f"{team.name} has no service in the platform catalogue" if not services
                                    else "servicenow.pagerduty_requester is not set in the platform catalogue",
                                    retry=retry)
            return
        key = f"{TICKET_KEY}{effect.incident_id}"
        # A ticket is updated many times before it is linked, and each update may page: the first creates the
        # PagerDuty incident, the others find it by its key (on this team's services: another team's is not this
        # team's page) and only finish the linking.
        created = await self._paging.incident_by_key(key, [s.pagerduty_service_id for s in services])
        if created is None:
            if not await self._still_open(effect):
                # Resolved, cancelled or deleted while PagerDuty kept the page waiting: there is nobody to wake for it.
                log.info("not paging team %s for ticket %s: it is no longer open", effect.team_id, effect.number)
                return
            created = await self._paging.create_incident(
                requester, clip(f"{effect.number}: {effect.short_description}", 255),
                services[0].pagerduty_service_id, effect.urgency or "high", incident_key=key)
        elif not effect.urgency and created.get("urgency") == "low" and created.get("status") != "resolved":
            # Raised by the desk before its page was linked (an earlier update's page, made at low urgency, was still
            # on its way): nothing else raises it until the desk touches the linked ticket again, so it goes high now.
            await self._paging.raise_urgency(str(created["id"]), requester)
        link = str(created.get("html_url") or created.get("id"))
        await self._tickets.update(effect.incident_id, {"correlation_id": str(created["id"])})
        await note_once(self._tickets, effect.incident_id, f"Paved Road paged {team.name} in PagerDuty: {link}",
                        retry=True)

    async def raise_urgency(self, effect: RaisePageUrgency, found: IncidentInSlack | None) -> None:
        """The page raised to high urgency, as the requester the ticket paged as; let go once the incident is
        resolved (as its claim read it: nobody is left to wake). Setting it again changes nothing. Once PagerDuty
        has it, that is recorded for the incident (`UrgencyRaised`): it sends no event for an urgency changed; and so
        is a refusal for good, the page left low (else held high, the card said so till the resolve)."""
        if found is not None and (found.incident is None or found.incident.status is Status.RESOLVED):
            return
        requester = self._catalogue.servicenow.pagerduty_requester
        try:
            if not requester:
                raise IntegrationError("pagerduty", "servicenow.pagerduty_requester is not set in the platform "
                                       "catalogue", retryable=False)
            await self._paging.raise_urgency(effect.incident_id, requester)
        except IntegrationError as error:
            if not error.retryable:  # refused for good (the effect dies, the operators hear): the page stays low
                await record_raise(self._store, self._clock, effect, taken=False)
            raise
        await record_raise(self._store, self._clock, effect, taken=True)

    async def _still_open(self, effect: PageTeamForTicket) -> bool:
        """Whether the ticket still wants its team woken: not resolved, closed, cancelled or deleted since it was
        raised. When ServiceNow cannot say, it does: a page too many is better than a team not paged."""
        try:
            ticket = await self._tickets.get(effect.incident_id)
        except IntegrationError as error:
            log.warning("paging team %s for ticket %s without knowing its state: %s", effect.team_id, effect.number,
                        error)
            return True
        return ticket is not None and ticket.state not in DEALT_WITH

    async def _cannot_page(self, effect: PageTeamForTicket, reason: str, *, retry: bool) -> None:
        """Tell the ticket nobody was paged and why, and the operators (the effect dies): once, though every later
        update of the ticket asks to page again — it finds the note there, written by an earlier effect that told
        the operators. (Found by this effect's own earlier attempt, the operators may not have heard yet.)"""
        note = (f"Paved Road: no one was paged for this ticket: {reason}. Page the team another way, and ask the "
                "platform team to fix the catalogue.")
        if await journal_note(self._tickets, effect.incident_id, note) is None:
            await self._tickets.update(effect.incident_id, {"work_notes": note})
            await self._first_told(effect.incident_id, note)  # told now, by this effect's death
        elif not retry or not await self._first_told(effect.incident_id, note):
            return
        raise IntegrationError("servicenow", f"cannot page team {effect.team_id!r} for {effect.number}: {reason} "
                               "(it needs a service in the catalogue and servicenow.pagerduty_requester)",
                               retryable=False)


def _told_key(sys_id: str, note: str) -> str:
    """The Deduplication key saying the operators heard of `note` on ticket `sys_id`."""
    return f"ticket-note-told:{sys_id}:{hashlib.sha256(note.encode()).hexdigest()[:16]}"
