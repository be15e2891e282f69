"""What an incident's card and its channel's topic say of its ServiceNow ticket: the ticket's number and link, and
"sync pending" while ServiceNow lags (effects of the incident's ServiceNow queue waiting for a retry)."""

from __future__ import annotations

from bot.domain.incident import Incident
from bot.ports.store import IncidentInSlack, SlackFootprint, SlackFootprints
from bot.render import card as cards
from bot.services.bookkeeping import remember_footprint


async def ticket_view(store: SlackFootprints, incident: Incident, footprint: SlackFootprint,
                      found: IncidentInSlack | None = None) -> cards.TicketView | None:
    """The ticket as the card and topic are to show it (as `found` read it with the incident, else read now);
    remembers on the footprint whether they say "sync pending" (written only when that changes: `footprint` is the
    effect's copy, and only the incident's Slack queue writes the flag)."""
    if found is None or found.ticket_queue_pending is None:
        # The ticket and its queue in one store call (the incident and footprint read with them go unused).
        found = await store.incident_in_slack(incident.id, with_ticket=True)
    ticket, pending = found.ticket, found.ticket_queue_pending or 0
    if footprint.sync_pending_shown != (pending > 0):
        # At once: a ticket sync finishing meanwhile reads it to decide whether the card needs a refresh.
        await remember_footprint(store, incident.id, at_once=True, sync_pending_shown=pending > 0)
        footprint.sync_pending_shown = pending > 0
    if ticket is None and not pending:
        return None
    return cards.TicketView(ticket.number if ticket else None, ticket.link if ticket else None, pending > 0)
