"""What people add to an incident's record from Slack: key messages (a person's message marked with the timeline
reaction) and follow-ups (`/incident followup`).

Both go through the inbox like a webhook — recorded first, applied by the worker in order with the incident's other
events — so a follow-up is never lost to a PagerDuty event applied at the same moment, and a message marked twice
(two people's 📌) joins the timeline once: its inbox event id is the message's (channel, ts). This module owns the
events' JSON (the inbox body, source "slack": bot/domain/from_slack.py dispatches on its "type") and what applying one
decides. Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.domain.effects import Effect, PostTimelineEntry, SyncTicket
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Decision, Incident
from bot.domain.timeline import TimelineEntry

KEY_MESSAGE, FOLLOW_UP = "key_message", "follow_up"
# What a key message's timeline line keeps of a long message (the whole message stays in Slack).
KEY_MESSAGE_CHARS = 2_000
FOLLOW_UP_CHARS = 1_000


@dataclass(frozen=True)
class KeyMessage:
    """A person's message in the incident channel, marked for the timeline."""

    incident_id: str
    channel: str
    ts: str
    author: str
    text: str
    marked_by: str

    @property
    def event_id(self) -> str:
        return f"key:{self.channel}:{self.ts}"

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.ts), UTC)


@dataclass(frozen=True)
class FollowUpAdded:
    """An action item recorded for the incident (`id` is unique: the inbox's event id)."""

    incident_id: str
    id: str
    text: str
    added_by: str
    added_at: datetime
    owner_id: str | None = None
    owner_name: str | None = None

    @property
    def event_id(self) -> str:
        return f"followup:{self.id}"


Contribution = KeyMessage | FollowUpAdded


def to_json(event: Contribution) -> str:
    if isinstance(event, KeyMessage):
        return json.dumps({"type": KEY_MESSAGE, **event.__dict__})
    return json.dumps({"type": FOLLOW_UP, **event.__dict__, "added_at": event.added_at.isoformat()})


def from_json(body: str) -> Contribution:
    """The contribution stored in an inbox row; ValueError (with the reason) when it cannot be read."""
    try:
        data: dict[str, Any] = json.loads(body)
        kind = data.pop("type")
        if kind == KEY_MESSAGE:
            key = KeyMessage(**{k: str(data[k]) for k in (
                "incident_id", "channel", "ts", "author", "text", "marked_by")})
            float(key.ts)  # a Slack ts is seconds.micros
            return key
        if kind == FOLLOW_UP:
            owner_id, owner_name = data.get("owner_id"), data.get("owner_name")
            return FollowUpAdded(str(data["incident_id"]), str(data["id"]), str(data["text"]), str(data["added_by"]),
                                 datetime.fromisoformat(str(data["added_at"])),
                                 str(owner_id) if owner_id else None, str(owner_name) if owner_name else None)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a contribution Paved Road recorded: {error.__class__.__name__}") from None
    raise ValueError(f"unknown contribution type {str(kind)[:40]!r}")


def apply_contribution(incident: Incident, event: Contribution, *, tickets: bool) -> Decision:
    """The timeline line (once: its id is the event's), and for a follow-up the incident's new list; the channel is
    told of a follow-up (a key message is already there), and ServiceNow of both through the ticket's work notes."""
    effects: list[Effect] = []
    if isinstance(event, KeyMessage):
        text = f"📌 {event.author}: {_clip(event.text, KEY_MESSAGE_CHARS)}"
        entry = TimelineEntry(event.event_id, incident.id, event.occurred_at, KEY_MESSAGE, event.author, text)
        updated = incident
    else:
        follow_up = FollowUp(len(incident.follow_ups) + 1, _clip(event.text, FOLLOW_UP_CHARS), event.added_by,
                             event.added_at, event.owner_id, event.owner_name)
        owner = f" (owner: {follow_up.owner})" if follow_up.owner else ""
        entry = TimelineEntry(event.event_id, incident.id, event.added_at, FOLLOW_UP, event.added_by,
                              f"Follow-up #{follow_up.number} by {event.added_by}: {follow_up.text}{owner}")
        updated = replace(incident, follow_ups=(*incident.follow_ups, follow_up))
        if incident.channel_requested:
            effects.append(PostTimelineEntry(incident.id, entry.id))
    if tickets:
        effects.append(SyncTicket(incident.id))
    return Decision(updated, entry, tuple(effects))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
