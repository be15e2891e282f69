"""Follow-on tickets: an incident open again (reopened in PagerDuty) whose ServiceNow ticket is Closed.

Instances commonly refuse every write to a Closed or Canceled incident (a write ACL: HTTP 403), and ServiceNow's
auto-close moves a Resolved ticket to Closed days later without the bot hearing of it (as may the desk, closing or
cancelling one by hand). Written to regardless, every later sync of the incident would fail for good, and its
timeline would never reach ServiceNow again. So a ticket is known closed from its stored row (the state the bot last
learnt), or learnt closed from a 403 — its state is then read, since a data policy answers 403 too — and the incident
goes on in a follow-on: a new incident record with the same correlation id, `parent_incident` the closed ticket and
its number in the description; the store's ticket row is switched to it (the card and the topic show it from their
next refresh). Nothing is written to the closed ticket.

Convergent on replay: the follow-on is looked for before it is made — `Tickets.find` answers the open ticket of a
correlation id before any closed one — so a retry after a lost answer adopts the follow-on its first attempt made,
and the row switched to it makes every later sync go there without asking. A resolved incident whose ticket is closed
gets no follow-on: the desk is done with the ticket and PagerDuty with the incident, and its untold lines are let go
(else the work-note flush job would queue them again and again). Nor does a ticket the desk Canceled (a duplicate,
one raised in error): that is the desk's word on it, and a follow-on would be canceled in turn, a new ticket at every
line; its lines are let go too.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

from bot.domain.incident import Incident
from bot.domain.ticket_rules import CLOSED
from bot.errors import IntegrationError
from bot.ports import Clock, Tickets
from bot.ports.store import Outbox, TicketRecords, TicketRow
from bot.services.bookkeeping import refresh_card_for_ticket, remember_noted, remember_ticket

log = logging.getLogger(__name__)
STATE_NAMES = {"7": "Closed", "8": "Canceled"}


class FollowOnStore(TicketRecords, Outbox, Protocol):
    """What following on needs of the store: the ticket rows and lines told, and the card refresh to queue."""


class FollowOns:
    def __init__(self, store: FollowOnStore, tickets: Tickets, clock: Clock) -> None:
        self._store, self._tickets, self._clock = store, tickets, clock

    async def refused_as_closed(self, sys_id: str, error: IntegrationError) -> str | None:
        """The ticket's state (Closed or Canceled), if `error` is ServiceNow refusing a write to it for being so;
        None for any other failure (a data policy's or a field ACL's refusal answers 403 too)."""
        if error.status != 403 or error.credentials_refused:
            return None
        now = await self._tickets.get(sys_id)
        return now.state if now is not None and now.state in CLOSED else None

    async def closed_now(self, ticket: TicketRow, error: IntegrationError) -> TicketRow | None:
        """`ticket` as ServiceNow has it now, if `error` is ServiceNow refusing a write to it because it is Closed or
        Canceled (the desk or the auto-close got there without the bot knowing); None for any other failure, which
        stays the caller's. Remembered, so that no later effect writes to it."""
        state = await self.refused_as_closed(ticket.sys_id, error)
        if state is None:
            return None
        log.info("ServiceNow refused an update of ticket %s of incident %s: it is %s", ticket.number,
                 ticket.incident_id, STATE_NAMES[state])
        closed = replace(ticket, state=state)
        await remember_ticket(self._store, closed)
        return closed

    async def follow_on(self, incident: Incident, closed: TicketRow, fields: dict[str, str]) -> TicketRow:
        """The ticket `incident` goes on in now that `closed` is Closed: the open one ServiceNow has for
        it (made by an earlier attempt whose answer was lost, or reopened by an admin), else a new one made of
        `fields` (a new ticket's) referring to `closed`. The incident's row is switched to it at once: the channel's
        opening and the next sync read it."""
        found = await self._tickets.find(incident.id)
        if found is None or found.state in CLOSED:
            said = (f"Follow-on to {closed.number}, which is {STATE_NAMES.get(closed.state or '', 'closed')} while "
                    f"PagerDuty incident #{incident.number} is open (still, or again): the incident's timeline "
                    f"continues here (the earlier part is in {closed.number}).")
            # (The adapter fits the longer description to its column, as it does every field.)
            found = await self._tickets.create(fields | {
                "parent_incident": closed.sys_id, "description": f"{said}\n{fields.get('description', '')}"})
            log.info("incident %s is open and its ticket %s is %s: opened follow-on ticket %s", incident.id,
                     closed.number, STATE_NAMES.get(closed.state or "", "closed"), found.number)
        else:
            log.info("incident %s goes on in ticket %s (its ticket %s is closed)", incident.id, found.number,
                     closed.number)
        row = TicketRow(incident.id, found.sys_id, found.number, found.link, found.state)
        await remember_ticket(self._store, row, at_once=True)
        await refresh_card_for_ticket(self._store, incident.id, self._clock.now().timestamp())
        return row

    async def as_now(self, ticket: TicketRow) -> TicketRow:
        """`ticket`, stored as Canceled, as ServiceNow has it now (nothing else tells the bot of a desk setting it back
        after a cancel by mistake); remembered when it changed."""
        now = await self._tickets.get(ticket.sys_id)
        if now is None or now.state == ticket.state:
            return ticket
        row = replace(ticket, state=now.state)
        await remember_ticket(self._store, row)
        return row

    async def let_go(self, incident_id: str, closed: TicketRow) -> None:
        """The incident's lines its Closed or Canceled ticket can no longer take: marked told, unsent."""
        batch = await self._store.work_note_batch(incident_id)
        if batch.entries:
            log.info("incident %s: its ticket %s is %s: %d timeline lines are not sent to ServiceNow", incident_id,
                     closed.number, STATE_NAMES.get(closed.state or "", "closed"), len(batch.entries))
            await remember_noted(self._store, [e.id for e in batch.entries])
