"""What people add to an incident's record from Slack: key messages (a person's message marked with the timeline
reaction) and follow-ups (`/incident followup`).

Both go through the inbox like a webhook — recorded first, applied by the worker in order with the incident's other
events — so a follow-up is never lost to a PagerDuty event applied at the same moment.

A key message takes two steps, because the reaction event does not carry the message and Slack may not give it back
at that moment (rate-limited in an outage, when everyone scrolls; a timeout; a 5xx): the mark itself
(`KeyMessageMarked`: channel, ts, who marked it) is recorded at once, and applying it queues `ReadKeyMessage`, an
outbox effect retried like any other; once read, the message is recorded as a `KeyMessage`, whose line joins the
timeline. A message marked twice (two people's 📌, two replicas) is one mark — its inbox event id is the message's
(channel, ts) — so it is read once and joins once; its line's id is the message's too.

This module owns the events' JSON (the inbox body, source "slack": bot/domain/from_slack.py dispatches on its "type")
and what applying one decides. Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.domain.effects import Effect
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import PostTimelineEntry, ReadKeyMessage
from bot.domain.follow_ups import FollowUp
from bot.domain.incident import Decision, Incident
from bot.domain.timeline import TimelineEntry

KEY_MESSAGE, KEY_MESSAGE_MARKED, FOLLOW_UP = "key_message", "key_message_marked", "follow_up"
# What a key message's timeline line keeps of a long message (the whole message stays in Slack).
KEY_MESSAGE_CHARS = 2_000
FOLLOW_UP_CHARS = 1_000


def key_message_id(channel: str, ts: str) -> str:
    """A marked message's id: its mark's inbox event id and its timeline line's (the same message is one line)."""
    return f"key:{channel}:{ts}"


@dataclass(frozen=True)
class KeyMessageMarked:
    """Someone marked a message in the incident channel with the timeline reaction: it is to be read from Slack
    (`ReadKeyMessage`). `marked_by` is their Slack user id (named when the message is read)."""

    incident_id: str
    channel: str
    ts: str
    marked_by: str

    @property
    def event_id(self) -> str:
        return key_message_id(self.channel, self.ts)


@dataclass(frozen=True)
class KeyMessage:
    """A person's message in the incident channel, marked for the timeline, as read back from Slack. `marked_by` is
    the marker's name; `marked_by_id` their Slack user id, to tell them should it never be applied (absent in older
    records)."""

    incident_id: str
    channel: str
    ts: str
    author: str
    text: str
    marked_by: str
    marked_by_id: str | None = None

    @property
    def event_id(self) -> str:
        # Not the mark's id, which the inbox already holds (a read recorded twice, by a retry, is still one row).
        # Rows recorded before marks were (read at the reaction, keyed "key:…") read back all the same.
        return f"key-read:{self.channel}:{self.ts}"

    @property
    def entry_id(self) -> str:
        return key_message_id(self.channel, self.ts)

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.ts), UTC)


@dataclass(frozen=True)
class FollowUpAdded:
    """An action item recorded for the incident (`id` is unique: the inbox's event id). `added_by_id` (their Slack
    user id) and `incident_number`: to tell whoever added it should it never be applied (absent in older records)."""

    incident_id: str
    id: str
    text: str
    added_by: str
    added_at: datetime
    owner_id: str | None = None
    owner_name: str | None = None
    added_by_id: str | None = None
    incident_number: int | None = None

    @property
    def event_id(self) -> str:
        return f"followup:{self.id}"


Contribution = KeyMessage | KeyMessageMarked | FollowUpAdded


def to_json(event: Contribution) -> str:
    if isinstance(event, KeyMessage):
        return json.dumps({"type": KEY_MESSAGE, **event.__dict__})
    if isinstance(event, KeyMessageMarked):
        return json.dumps({"type": KEY_MESSAGE_MARKED, **event.__dict__})
    return json.dumps({"type": FOLLOW_UP, **event.__dict__, "added_at": event.added_at.isoformat()})


def from_json(body: str) -> Contribution:
    """The contribution stored in an inbox row; ValueError (with the reason) when it cannot be read."""
    try:
        data: dict[str, Any] = json.loads(body)
        kind = data.pop("type")
        if kind == KEY_MESSAGE:
            marked_by_id = data.get("marked_by_id")
            key = KeyMessage(**{k: str(data[k]) for k in (
                "incident_id", "channel", "ts", "author", "text", "marked_by")},
                marked_by_id=str(marked_by_id) if marked_by_id else None)
            float(key.ts)  # a Slack ts is seconds.micros
            return key
        if kind == KEY_MESSAGE_MARKED:
            mark = KeyMessageMarked(**{k: str(data[k]) for k in ("incident_id", "channel", "ts", "marked_by")})
            float(mark.ts)
            return mark
        if kind == FOLLOW_UP:
            owner_id, owner_name = data.get("owner_id"), data.get("owner_name")
            added_by_id, number = data.get("added_by_id"), data.get("incident_number")
            return FollowUpAdded(str(data["incident_id"]), str(data["id"]), str(data["text"]), str(data["added_by"]),
                                 datetime.fromisoformat(str(data["added_at"])),
                                 str(owner_id) if owner_id else None, str(owner_name) if owner_name else None,
                                 str(added_by_id) if added_by_id else None,
                                 number if isinstance(number, int) and not isinstance(number, bool) else None)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a contribution Paved Road recorded: {error.__class__.__name__}") from None
    raise ValueError(f"unknown contribution type {str(kind)[:40]!r}")


def apply_contribution(incident: Incident, event: Contribution, *, tickets: bool) -> Decision:
    """A mark: the message is to be read (no line yet). Otherwise the timeline line (once: its id is the message's
    or the follow-up's), and for a follow-up the incident's new list; the channel is told of a follow-up (a key
    message is already there), and ServiceNow of both through the ticket's work notes."""
    if isinstance(event, KeyMessageMarked):
        return Decision(incident, None, (ReadKeyMessage(incident.id, event.channel, event.ts, event.marked_by),))
    effects: list[Effect] = []
    if isinstance(event, KeyMessage):
        text = f"📌 {event.author}: {_clip(event.text, KEY_MESSAGE_CHARS)}"
        entry = TimelineEntry(event.entry_id, incident.id, event.occurred_at, KEY_MESSAGE, event.author, text)
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
