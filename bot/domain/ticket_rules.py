"""ServiceNow tickets as events: what a business-rule delivery means for the platform. Pure functions over plain data
(bot/adapters/servicenow/webhook.py reads the delivery's JSON into a `TicketEvent`).

- Our own writes come back through the business rule too: recognised by `updated_by` and ignored (no loops).
- A ticket linked to an incident the bot knows (its correlation id, or PagerDuty's integration field): work notes
  and comments that people wrote, the desk resolving, closing or cancelling it, and its reassignment to another group
  land on the incident's timeline; the state it is left in is recorded (a sync never sets back what the desk did).
- A correlation id naming no incident the bot knows, unless shaped as PagerDuty's ids are, is another tool's (Event
  Management, a monitoring integration): the ticket is unlinked for us. PagerDuty's own field, and an id of PagerDuty's
  shape, name a PagerDuty incident (its webhook may come after the ticket): that one is never paged again.
- An unlinked ticket assigned to a team's group (or raised with the paging category) pages that team, at the
  PagerDuty urgency the ticket's impact and urgency map to; a ticket for a group that is no team gets a work note
  saying so, and the operators hear of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.alert_text import shown_error
from bot.domain.effects import Effect
from bot.domain.effects.pagerduty import RaisePageUrgency
from bot.domain.effects.servicenow import NoteOnTicket, PageTeamForTicket, SyncTicket
from bot.domain.effects.slack import PostTimelineEntry
from bot.domain.incident import TICKET_KEY as TICKET_KEY  # (a page a ticket made: ticket_pages.py)
from bot.domain.incident import ChannelPolicy, Decision, Incident, Status, raised_to_high_urgency
from bot.domain.timeline import PAGERDUTY_ID, TimelineEntry


@dataclass(frozen=True)
class TicketEvent:
    """One business-rule delivery: the ticket as it now is, and what was just written on it. `previous_state` and
    `previous_group`: before this update (None when the rule does not say: an older copy of the README's script)."""

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
    impact: str = ""
    urgency: str = ""
    close_notes: str = ""
    previous_state: str | None = None
    previous_group: str | None = None
    previous_impact: str | None = None  # (None: not said, an older copy of the script)
    previous_urgency: str | None = None
    from_pagerduty: bool = False  # PagerDuty's own ServiceNow app linked it (x_pd_integration_incident)


@dataclass(frozen=True)
class TicketRules:
    integration_user: str
    team_for_group: dict[str, str]           # lower-cased group name → team id
    page_category: str | None
    # PagerDuty urgency → the ServiceNow priority it is given (the catalogue's `servicenow.urgency`, high → 1, low → 5):
    # a ticket pages at the urgency whose priority is nearest its own.
    urgency_priorities: dict[str, int] = field(default_factory=dict)


NOTHING = Decision(None, None, ())
# The ticket states in which the service desk is done with it: Resolved, Closed, Canceled. Such a ticket pages nobody.
DEALT_WITH = ("6", "7", "8")
# Closed and Canceled: the end of a ticket. Instances commonly refuse any write to one (a write ACL), so an incident
# open again after its ticket came to this goes on in a follow-on ticket (bot/services/ticket_follow_ons.py).
CLOSED = ("7", "8")
CANCELED = "8"
# The length of a record's `sys_created_by` and `sys_updated_by` (a String of 40 on every table): a longer user ID
# (an e-mail-like one, where an instance lengthened `sys_user.user_name`) is stamped cut to it.
CREATED_BY_LENGTH = 40
STATE_WORDS = {"6": "resolved", "7": "closed", "8": "canceled"}
# A correlation id of PagerDuty's id shape (PAGERDUTY_ID) is taken for an incident the bot has not heard of yet
# (PagerDuty's own app links tickets there too). Event Management's ids, and a monitoring tool's numeric event id
# (Datadog's, Zabbix's: digits only), are no PagerDuty incident: such a ticket pages (found in review: it paged nobody).
# The timeline kind of a line saying the desk resolved, closed or cancelled the open ticket (ticket_sync.py reads it as
# the recorded fact that the desk resolved it), and of one saying the desk opened a ticket it was done with again.
DESK_STATE_KIND = "servicenow_state"
DESK_REOPEN_KIND = "servicenow_reopened"
# The ticket states the incident's own status moves it to: New (triggered; a new ticket's), In Progress, Resolved.
NEW, IN_PROGRESS, RESOLVED = "1", "2", "6"
# On Hold: only ever a person's (the bot never sets it): the desk waits on someone (a vendor, the caller).
ON_HOLD = "3"
# The incident's lines that change its status: the latest tells an incident triggered again after an acknowledgement
# reopened (work goes on) from one whose acknowledgement timed out (`incident.unacknowledged`: nobody is on it).
STATUS_KINDS = ("triggered", "acknowledged", "unacknowledged", "resolved", "reopened")
UNACKNOWLEDGED_KIND = "unacknowledged"


def wanted_state(incident: Incident, current: str | None, timeline: list[TimelineEntry] | None = None) -> str | None:
    """The state the incident wants its ticket in (None: as it is). Resolved once resolved; In Progress while
    acknowledged, and once reopened (work is under way again: from Resolved, and kept while it waits to be acknowledged
    again); New again once its acknowledgement timed out — PagerDuty triggered it again, paging the next on call, and
    nobody is on it (found in review: it stayed In Progress). A ticket the desk put On Hold stays so until they take
    it off hold or the incident is resolved: neither a later line nor an acknowledgement timing out says anything
    against their hold (found in review: the timeout's New put it back in their queue). `timeline`: the incident's,
    which `needs_timeline` says when it is read for: its latest status line tells the two triggered-again apart."""
    if incident.status is Status.RESOLVED:
        return RESOLVED
    if current == ON_HOLD:
        return None
    if incident.status is Status.ACKNOWLEDGED or current == RESOLVED:
        return IN_PROGRESS
    if incident.acknowledged_at is None:
        return None
    latest = next((e.kind for e in reversed(timeline or []) if e.kind in STATUS_KINDS), None)
    return NEW if latest == UNACKNOWLEDGED_KIND else IN_PROGRESS


def needs_timeline(incident: Incident, current: str | None) -> bool:
    """Whether `wanted_state` needs the incident's timeline: triggered again after an acknowledgement."""
    return incident.status is Status.TRIGGERED and incident.acknowledged_at is not None and current != RESOLVED


def decide_ticket(event: TicketEvent, rules: TicketRules, incident: Incident | None, now: datetime,
                  policy: ChannelPolicy) -> Decision:
    """What one delivery means. `incident`: the linked incident, if the bot knows it."""
    if event.updated_by.lower() == rules.integration_user.lower():
        return NOTHING  # our own write, echoed by the business rule
    if event.linked_incident and incident is not None:
        return _linked(event, incident, rules, now, policy)
    if event.linked_incident and (event.from_pagerduty or PAGERDUTY_ID.fullmatch(event.linked_incident)):
        return NOTHING  # PagerDuty's own app raised it for an incident of its own: that team is paged already
    team = rules.team_for_group.get(event.assignment_group.lower()) if event.assignment_group else None
    asked_to_page = rules.page_category is not None and event.category.lower() == rules.page_category.lower()
    if event.state in DEALT_WITH or (team is None and not asked_to_page):
        # Tickets for groups that are no team are none of our business, unless raised to page a product team.
        return NOTHING
    if team is not None:
        return Decision(None, None, (PageTeamForTicket(event.sys_id, team, event.number, event.short_description,
                                                       pagerduty_urgency(event, rules)),))
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


def _linked(event: TicketEvent, incident: Incident, rules: TicketRules, now: datetime,
            policy: ChannelPolicy) -> Decision:
    """A person's update of the incident's ticket: what they said, the desk's resolution and a reassignment on the
    timeline; the state it left the ticket in recorded by a sync of the ticket; its page raised to high urgency if
    the desk raised the ticket's priority that far."""
    incident_id = incident.id
    raise_page = _raises_its_page(event, incident, rules)
    said = [f"raised the ticket to priority {int(event.impact) + int(event.urgency) - 1}, so its page goes to high "
            "urgency"] if raise_page else []
    update = event.operation == "update"  # (an insert has no "before")
    # Moved by this very update: a plain note on the ticket (its state as it was) changes nothing, and its delivery,
    # late, must not set back what was recorded since (found in review: a stale In Progress over the bot's Resolved).
    changed = update and event.previous_state not in (None, event.state)
    # Only an open ticket ended is the desk's resolution: ServiceNow's auto-close (Resolved → Closed, by `system`)
    # ends one already resolved — by the bot, in its own close notes — and is told nowhere (found in review).
    moved_to = changed and event.state in DEALT_WITH and event.previous_state not in DEALT_WITH
    reopened = changed and event.previous_state in DEALT_WITH and event.state not in DEALT_WITH
    if moved_to:
        notes = event.close_notes.strip()
        said.append(f"{STATE_WORDS[event.state]} the ticket" + (f": {notes}" if notes else ""))
    elif reopened:
        said.append("opened the ticket again")
    if update and event.previous_group is not None and event.previous_group != event.assignment_group:
        to = event.assignment_group or "no group"
        team = rules.team_for_group.get(to.lower())
        said.append(f"reassigned the ticket from {event.previous_group or 'no group'} to {to}"
                    + (f" (team {team}), who were not paged for it: `/incident page {team}` brings them in"
                       if team else ""))
    said += [f"{label}: {text.strip()}" for label, text in (("work note", event.work_note),
                                                           ("comment", event.comment)) if text.strip()]
    effects: list[Effect] = []
    entry = None
    if said:
        entry = TimelineEntry(id=f"servicenow:{event.delivery_id}", incident_id=incident_id,
                              occurred_at=event.updated_on or now,
                              kind=DESK_STATE_KIND if moved_to else DESK_REOPEN_KIND if reopened else "servicenow_note",
                              actor=event.updated_by,
                              text=f"ServiceNow {event.number}, {event.updated_by} — " + " / ".join(said))
        effects.append(PostTimelineEntry(incident_id, entry.id))
    # The state a person moved it to (or a new ticket's; an older rule's, not saying the state before, too), so no
    # sync sets it back (or writes to it, Closed or Canceled); a delivery of an update leaving the state as it was
    # records nothing — it may come after the bot's own change of it.
    if event.state and (not update or event.previous_state is None or changed):
        effects.append(SyncTicket(incident_id, desk_ticket=event.sys_id, desk_state=event.state))
    if not raise_page:
        return Decision(None, entry, tuple(effects))
    # PagerDuty sends no event for an urgency changed: the incident is recorded at high urgency as the page is raised.
    raised, consequences, homes = raised_to_high_urgency(incident, policy)
    return Decision(raised, entry, (RaisePageUrgency(incident_id, event.number, event.delivery_id), *effects,
                                    *consequences), homes)


def _raises_its_page(event: TicketEvent, incident: Incident, rules: TicketRules) -> bool:
    """Whether this very update raised the ticket far enough that its low-urgency page should wake someone: its levels
    before it (the README's script sends them) paged low and now page high. Only a page the ticket itself made (its
    levels were the desk's; an incident PagerDuty raised has its own urgency rules), still open, and only ever raised;
    a note on a ticket whose levels the bot had set high (the incident's priority raised in PagerDuty) raises nothing
    (found in review: it was said as the desk's raise)."""
    before = _nearest(event.previous_impact or "", event.previous_urgency or "", rules)
    return (incident.incident_key == f"{TICKET_KEY}{event.sys_id}" and incident.urgency == "low"
            and incident.status is not Status.RESOLVED and event.state not in DEALT_WITH
            and before not in (None, "high") and _nearest(event.impact, event.urgency, rules) == "high")


def pagerduty_urgency(event: TicketEvent, rules: TicketRules) -> str:
    """The PagerDuty urgency a ticket pages at: the one whose ServiceNow priority (the catalogue's mapping, one way)
    is nearest the ticket's (impact + urgency - 1, ServiceNow's default priority lookup); a tie, or a ticket whose
    levels are not sent, pages high — a page too soft for what the desk said is worse than one too loud."""
    nearest = _nearest(event.impact, event.urgency, rules)
    return "" if nearest in (None, "high") else nearest


def _nearest(impact: str, urgency: str, rules: TicketRules) -> str | None:
    """The urgency whose priority is nearest these levels' (a tie: the higher); None if they are not levels (empty,
    not sent, or not plain digits: a "²" is a digit to Python but no number to `int`)."""
    if not (_LEVEL.fullmatch(impact) and _LEVEL.fullmatch(urgency)) or not rules.urgency_priorities:
        return None
    priority = int(impact) + int(urgency) - 1
    return min(rules.urgency_priorities.items(), key=lambda u: (abs(u[1] - priority), u[1]))[0]


_LEVEL = re.compile(r"[0-9]{1,3}")
