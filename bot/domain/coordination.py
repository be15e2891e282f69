"""What the incident manager coordinates, as plain data: who holds each incident role (`RoleHolder`), the status
updates published for stakeholders (`StatusUpdate`), and the commands people give from Slack about them
(`RoleAssignment`, `StatusUpdatePosted`, `ReminderDue`) — and a raise of the page the bot made for a ticket,
confirmed (`UrgencyRaised`) — with their JSON form.

A command is recorded in the inbox (source "slack") before anyone is answered, and applied by the worker in order
with PagerDuty's events (bot/domain/toolkit.py decides what it means): so a role change or an update is never lost,
and its effects go out through the outbox once each. Pure: standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

COMMANDER = "commander"
# The incident keeps its latest status updates (the card, the status and the reminders need the last one; PagerDuty
# and the timeline keep them all) — and, besides, those made through the bot lately (`kept_updates`).
KEPT_UPDATES = 20
# An update made through the bot is kept while posted within this long of the newest: its effects read it by id
# (published, shared, commented) and PagerDuty's webhook is matched to it. The incident cannot tell which of them are
# done: PagerDuty confirms its copy, but the stakeholders' post and the ticket's comment wait on Slack and ServiceNow
# (however long ServiceNow refuses the bot's credentials). Hours past its effects' retries.
AWAITING_KEPT_FOR = timedelta(hours=6)
# Inbox event types of the commands (source "slack").
ROLE_ASSIGNED, UPDATE_POSTED, REMINDER_DUE = "role.assigned", "status_update.posted", "status_update.reminder"
URGENCY_RAISED = "page.urgency_raised"
COMMAND_TYPES = (ROLE_ASSIGNED, UPDATE_POSTED, REMINDER_DUE, URGENCY_RAISED)


@dataclass(frozen=True)
class RoleHolder:
    """Someone holding an incident role, as Slack knows them."""

    role: str
    slack_user_id: str
    name: str


@dataclass(frozen=True)
class StatusUpdate:
    """One status update for stakeholders: what is happening, the impact, and when the next is due. `source` is
    "slack" (published through the bot, which tells PagerDuty, ServiceNow and the stakeholders' channel) or
    "pagerduty" (published there directly). `in_pagerduty`: PagerDuty has confirmed it (its webhook came back)."""

    id: str
    at: datetime
    author: str
    what: str
    impact: str = ""
    next_due: datetime | None = None
    author_slack_id: str | None = None
    author_email: str | None = None
    source: str = "slack"
    in_pagerduty: bool = False

    @property
    def message(self) -> str:
        """The update as one plain text (PagerDuty's status update, ServiceNow's customer-visible comment)."""
        lines = [self.what.strip()]
        if self.impact.strip():
            lines.append(f"Impact: {self.impact.strip()}")
        if self.next_due is not None:
            lines.append(f"Next update by {self.next_due:%H:%M} UTC.")
        return "\n".join(lines)


@dataclass(frozen=True)
class RoleAssignment:
    """`/incident role <role> <someone>` (or Take command): `holder` takes `role`, as asked by `by_name`.
    `vacant_only`: a Take command, which offers an empty seat — it never unseats whoever filled it first.
    `incident_number`: as the person knew it, to tell them should it never be applied (absent in older records)."""

    id: str
    incident_id: str
    at: datetime
    holder: RoleHolder
    by_slack_id: str
    by_name: str
    vacant_only: bool = False
    incident_number: int | None = None


@dataclass(frozen=True)
class StatusUpdatePosted:
    """`/incident update` (or its form): one update to publish everywhere. `incident_number`: as the author knew it,
    to tell them should it never be applied (absent in older records)."""

    id: str
    incident_id: str
    at: datetime
    update: StatusUpdate
    incident_number: int | None = None


@dataclass(frozen=True)
class ReminderDue:
    """The scheduler found no status update since `since` for a whole interval (the `interval`-th): remind, unless
    an update has come in meanwhile. Its id names the incident, `since` and the interval, so a reminder is recorded
    once per interval across restarts and replicas (the inbox keeps ids unique)."""

    id: str
    incident_id: str
    at: datetime
    since: datetime
    interval: int


@dataclass(frozen=True)
class UrgencyRaised:
    """PagerDuty took the bot's raise of the incident to high urgency (its ticket raised to a high priority:
    `RaisePageUrgency`) by `at`. PagerDuty sends no event for an urgency changed, so the effect records this once
    PagerDuty has answered; until then the incident holds its high urgency against snapshots saying low
    (bot/domain/incident.py). `taken` False: PagerDuty refused it for good (the operators are told to raise it by hand),
    so the page is as low as it was — held high, the card said high urgency for as long as the incident lasted."""

    id: str
    incident_id: str
    at: datetime
    taken: bool = True


Command = RoleAssignment | StatusUpdatePosted | ReminderDue | UrgencyRaised


def command_type(command: Command) -> str:
    match command:
        case RoleAssignment():
            return ROLE_ASSIGNED
        case StatusUpdatePosted():
            return UPDATE_POSTED
        case ReminderDue():
            return REMINDER_DUE
        case UrgencyRaised():
            return URGENCY_RAISED


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def take_command_id(incident_id: str) -> str:
    """A Take command's record id: one per incident, since the commander's seat, once filled, is never empty again —
    so of two takes pressed at once the inbox stores the first, and the second is a repeat (a compare-and-set on the
    empty seat, across replicas)."""
    return f"take-command:{incident_id}"


def take_command_after(incident_id: str, reference: str) -> str:
    """The record id of a Take command pressed after the one under `take_command_id` (or a successor) was set aside
    (quarantined, under `reference`), which left the seat empty: one per failed take, so the button fills the seat
    again and two presses after the same failure still compare-and-set (the first recorded fills it)."""
    return f"{take_command_id(incident_id)}:after:{reference}"


def reminder_id(incident_id: str, since: datetime, interval: int) -> str:
    return f"reminder:{incident_id}:{since.isoformat()}:{interval}"


def last_update_at(updates: tuple[StatusUpdate, ...], triggered_at: datetime) -> datetime:
    """When stakeholders last heard: the latest update, else the trigger."""
    return max((u.at for u in updates), default=triggered_at)


def kept_updates(updates: tuple[StatusUpdate, ...]) -> tuple[StatusUpdate, ...]:
    """The updates an incident keeps (oldest first): its last KEPT_UPDATES, and any earlier one made through the bot
    (a long outage of PagerDuty, Slack or ServiceNow, a busy incident) posted within AWAITING_KEPT_FOR of the newest —
    at most KEPT_UPDATES of those, the newest. Dropping one still on its way would publish, share or comment nothing
    for it, silently, and take PagerDuty's confirmation of it for someone else's update (found in review: 21 updates
    while ServiceNow was down, each confirmed by PagerDuty at once, and the oldest never reached the ticket)."""
    if len(updates) <= KEPT_UPDATES:
        return updates
    older, latest = updates[:-KEPT_UPDATES], updates[-KEPT_UPDATES:]
    since = latest[-1].at - AWAITING_KEPT_FOR
    awaiting = [u for u in older if u.source == "slack" and u.at >= since][-KEPT_UPDATES:]
    return (*awaiting, *latest)


def holder_of(roles: tuple[RoleHolder, ...], role: str) -> RoleHolder | None:
    return next((h for h in roles if h.role == role), None)


# -- JSON (the inbox row's body) ----------------------------------------------------------------------------------


def command_to_json(command: Command) -> str:
    return json.dumps({"type": command_type(command), **asdict(command)}, default=_iso)


def command_from_json(text: str) -> Command:
    """The command in an inbox row's body; ValueError (with the reason) when it is not one."""
    try:
        data = json.loads(text)
        kind = data.pop("type")
        at = datetime.fromisoformat(data.pop("at"))
        command_id, incident_id = str(data["id"]), str(data["incident_id"])
        if kind == ROLE_ASSIGNED:
            return RoleAssignment(command_id, incident_id, at, RoleHolder(**data["holder"]),
                                  by_slack_id=str(data["by_slack_id"]), by_name=str(data["by_name"]),
                                  vacant_only=data.get("vacant_only") is True,  # absent in older records
                                  incident_number=_number(data.get("incident_number")))
        if kind == UPDATE_POSTED:
            return StatusUpdatePosted(command_id, incident_id, at, update_from_dict(data["update"]),
                                      incident_number=_number(data.get("incident_number")))
        if kind == REMINDER_DUE:
            return ReminderDue(command_id, incident_id, at, datetime.fromisoformat(data["since"]),
                               int(data["interval"]))
        if kind == URGENCY_RAISED:
            # (absent in older records: taken; an older version reads a refusal as taken, and holds no longer)
            return UrgencyRaised(command_id, incident_id, at, taken=data.get("taken") is not False)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a Slack command record: {error.__class__.__name__} {error}") from None
    raise ValueError(f"unknown Slack command type {kind!r}")


def update_from_dict(data: dict[str, Any]) -> StatusUpdate:
    values = dict(data)
    values["at"] = datetime.fromisoformat(values["at"])
    values["next_due"] = datetime.fromisoformat(values["next_due"]) if values.get("next_due") else None
    return StatusUpdate(**values)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
