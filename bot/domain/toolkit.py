"""The incident manager's commands applied to the incident: `apply_command(incident, command, policy)` → `Decision`.

- A role assignment changes who holds the role: one timeline line ("Erin Walsh took over as commander from Ben
  Okafor"), posted in the channel and sent to ServiceNow's work notes, the new holder invited, the card refreshed
  (and the App Homes of the old and new holders).
  Assigning the holder again changes nothing. A Take command (`vacant_only`) that finds the seat filled by someone
  else changes nothing either: its clicker is told, in their direct messages with the app, who leads.
- A status update is kept on the incident (the card, `/incident status`, the handover and the reminders read the
  latest), with one timeline line — posted in the channel as the update itself — and its effects: the
  stakeholders' channel, PagerDuty's status update, the ServiceNow ticket's customer-visible comment.
- A reminder found due by the scheduler is posted unless an update has come in since, or the incident is resolved.

Replaying a command changes nothing (its id is the timeline entry's, and an update's id is kept). Pure.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.alert_text import plain
from bot.domain.coordination import (
    Command,
    ReminderDue,
    RoleAssignment,
    StatusUpdatePosted,
    UrgencyRaised,
    holder_of,
    kept_updates,
    last_update_at,
)
from bot.domain.effects import Effect
from bot.domain.effects.pagerduty import PublishStatusUpdate
from bot.domain.effects.servicenow import CommentOnTicket, SyncTicket
from bot.domain.effects.slack import (
    InviteToChannel,
    PostReminder,
    PostTimelineEntry,
    RefreshCard,
    ShareStatusUpdate,
    TellPerson,
)
from bot.domain.home import home_refresh
from bot.domain.incident import (
    ChannelPolicy,
    Decision,
    Incident,
    Status,
    urgency_raise_confirmed,
    urgency_raise_refused,
)
from bot.domain.timeline import TimelineEntry

ROLE_KIND, UPDATE_KIND = "role_assigned", "status_update"


def apply_command(incident: Incident | None, command: Command, policy: ChannelPolicy) -> Decision:
    if incident is None:
        return Decision(None, None, ())
    match command:
        case RoleAssignment():
            return _assign(incident, command, policy)
        case StatusUpdatePosted():
            return _publish(incident, command, policy)
        case ReminderDue():
            return _remind(incident, command)
        case UrgencyRaised(taken=True):
            return Decision(urgency_raise_confirmed(incident, command.at), None, ())
        case UrgencyRaised():
            refused = urgency_raise_refused(incident)
            if refused == incident:
                return Decision(incident, None, ())
            return Decision(refused, None, (RefreshCard(incident.id),),
                            home_refresh(incident, refused) if policy.homes else None)


def _assign(incident: Incident, command: RoleAssignment, policy: ChannelPolicy) -> Decision:
    holder = command.holder
    previous = holder_of(incident.roles, holder.role)
    if previous is not None and previous.slack_user_id == holder.slack_user_id:
        return Decision(incident, None, ())
    if command.vacant_only and previous is not None:
        # Taken meanwhile (`/incident role commander …` applied first): the Take's clicker was told they lead.
        return Decision(incident, None, (TellPerson(f"person:{command.by_slack_id}", command.by_slack_id,
                                                    f"{plain(previous.name)} took command of #{incident.number} just "
                                                    "before you, so they lead it and nothing was changed. To take over "
                                                    "from them, `/incident role commander me`."),))
    roles = (*(h for h in incident.roles if h.role != holder.role), holder)
    text = (f"{holder.name} took over as {holder.role} from {previous.name}" if previous
            else f"{holder.name} is now {holder.role}")
    if command.by_slack_id != holder.slack_user_id:
        text += f" (assigned by {command.by_name})"
    entry = TimelineEntry(id=command.id, incident_id=incident.id, occurred_at=command.at, kind=ROLE_KIND,
                          actor=command.by_name, text=text)
    effects: list[Effect] = [PostTimelineEntry(incident.id, entry.id),
                             InviteToChannel(incident.id, (holder.slack_user_id,)), RefreshCard(incident.id)]
    if policy.tickets:
        effects.append(SyncTicket(incident.id))
    updated = replace(incident, roles=roles)
    # The old and the new holder's Homes list the incident differently now.
    return Decision(updated, entry, tuple(effects), home_refresh(incident, updated) if policy.homes else None)


def _publish(incident: Incident, command: StatusUpdatePosted, policy: ChannelPolicy) -> Decision:
    update = command.update
    if any(u.id == update.id for u in incident.status_updates):
        return Decision(incident, None, ())
    updates = kept_updates((*incident.status_updates, update))
    entry = TimelineEntry(id=update.id, incident_id=incident.id, occurred_at=update.at, kind=UPDATE_KIND,
                          actor=update.author, text=f"Status update by {update.author}: "
                                                    + " · ".join(update.message.splitlines()))
    # The stakeholders' post before the card's refresh: both are Slack calls in one queue, and people wait on it.
    effects: list[Effect] = [PostTimelineEntry(incident.id, entry.id), ShareStatusUpdate(incident.id, update.id),
                             PublishStatusUpdate(incident.id, update.id)]
    if policy.tickets:
        effects.append(CommentOnTicket(incident.id, update.id))
    effects.append(RefreshCard(incident.id))
    return Decision(replace(incident, status_updates=updates), entry, tuple(effects))


def _remind(incident: Incident, command: ReminderDue) -> Decision:
    if incident.status is Status.RESOLVED or last_update_at(incident.status_updates, incident.triggered_at) \
            > command.since:
        return Decision(incident, None, ())
    return Decision(incident, None, (PostReminder(incident.id, command.id),))
