"""ServiceNow tickets as events: what a business-rule delivery means for the platform. Pure functions over plain data
(bot/adapters/servicenow/webhook.py reads the delivery's JSON into a `TicketEvent`).

- Our own writes come back through the business rule too: recognised by `updated_by` and ignored (no loops).
- A ticket linked to an incident (correlation id or PagerDuty's integration field): work notes and comments that
  people wrote land on the incident's timeline.
- An unlinked ticket assigned to a team's group (or raised with the paging category) pages that team; a ticket for
  a group that is no team gets a work note saying so, and the operators hear of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.effects import NoteOnTicket, PageTeamForTicket, PostTimelineEntry, shown_error
from bot.domain.incident import Decision
from bot.domain.timeline import TimelineEntry


@dataclass(frozen=True)
class TicketEvent:
    """One business-rule delivery: the ticket as it now is, and what was just written on it."""

    delivery_id: str
    operation: str
    sys_id: str
    number: str
    short_description: str
    assignment_group: str
    category: str
    state: str
    linked_incident: str | None
    updated_by: str
    updated_on: datetime | None
    work_note: str
    comment: str


@dataclass(frozen=True)
class TicketRules:
    integration_user: str
    team_for_group: dict[str, str]           # lower-cased group name → team id
    page_category: str | None


NOTHING = Decision(None, None, ())
# The ticket states in which the service desk is done with it: Resolved, Closed, Canceled. Such a ticket pages nobody.
DEALT_WITH = ("6", "7", "8")
# Closed and Canceled: the end of a ticket. Instances commonly refuse any write to one (a write ACL), so an incident
# open again after its ticket came to this goes on in a follow-on ticket (bot/services/ticket_follow_ons.py).
CLOSED = ("7", "8")
CANCELED = "8"


def decide_ticket(event: TicketEvent, rules: TicketRules, known_incident: bool, now: datetime) -> Decision:
    """What one delivery means. `known_incident`: the linked incident is one the bot knows."""
    if event.updated_by.lower() == rules.integration_user.lower():
        return NOTHING  # our own write, echoed by the business rule
    if event.linked_incident:
        said = [f"{label}: {text.strip()}" for label, text in (("work note", event.work_note),
                                                               ("comment", event.comment)) if text.strip()]
        if not known_incident or not said:
            return NOTHING
        entry = TimelineEntry(id=f"servicenow:{event.delivery_id}", incident_id=event.linked_incident,
                              occurred_at=event.updated_on or now, kind="servicenow_note", actor=event.updated_by,
                              text=f"ServiceNow {event.number}, {event.updated_by} — " + " / ".join(said))
        return Decision(None, entry, (PostTimelineEntry(entry.incident_id, entry.id),))
    team = rules.team_for_group.get(event.assignment_group.lower()) if event.assignment_group else None
    asked_to_page = rules.page_category is not None and event.category.lower() == rules.page_category.lower()
    if event.state in DEALT_WITH or (team is None and not asked_to_page):
        # Tickets for groups that are no team are none of our business, unless raised to page a product team.
        return NOTHING
    if team is not None:
        return Decision(None, None, (PageTeamForTicket(event.sys_id, team, event.number, event.short_description),))
    group = event.assignment_group or "(none)"
    # Every later update of the ticket decides this again: the note is written, and the operators told, once.
    return Decision(None, None, (NoteOnTicket(
        event.sys_id, f"Paved Road: assignment group '{group}' is not a team in the platform catalogue, so no one was "
                      "paged. Assign the ticket to a product team's group, or ask the platform team to add this group "
                      "to the catalogue.",
        # The ticket's number and group are ServiceNow's words, shown as they are: no markup in them reaches Slack.
        alert=f"⚠️ ServiceNow ticket {shown_error(event.number)} is assigned to {shown_error(group)}, which is no "
              "team in the catalogue: nobody was paged. Add the group to a team (`teams[].servicenow_group`) or "
              "reassign the ticket."),))
