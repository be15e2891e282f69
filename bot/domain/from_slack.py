"""What people do in Slack that the inbox records (source "slack"): key messages and follow-ups
(bot/domain/contributions.py) and the incident manager's commands — roles, status updates, reminders found due
(bot/domain/coordination.py).

One mechanism for all of them: each is a record with an id (the inbox's event id, so a repeat is stored once), a
type, and a JSON body tagged with that type; the worker reads any row of this source here and applies it in order
with the incident's other events. This module owns the tag → reader dispatch and what applying a record decides.
Pure: standard library only.
"""

from __future__ import annotations

import json
import re

from bot.domain import contributions, coordination
from bot.domain.contributions import Contribution, FollowUpAdded, KeyMessage, KeyMessageMarked, apply_contribution
from bot.domain.coordination import Command
from bot.domain.incident import ChannelPolicy, Decision, Incident
from bot.domain.storable import storable_document
from bot.domain.toolkit import apply_command

SOURCE = "slack"  # the inbox's source for everything recorded from Slack
# How json.dumps (to_json) writes a NUL or half a character: only an escape, never raw.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")

SlackRecord = Contribution | Command
# Every record type this version writes and reads (an inbox row's event type, and its body's "type"). A record of any
# other type was written by a newer version: the stores leave it for a replica that reads it
# (bot/adapters/store/unreadable.py).
RECORD_TYPES = frozenset({contributions.KEY_MESSAGE, contributions.KEY_MESSAGE_MARKED, contributions.FOLLOW_UP,
                          *coordination.COMMAND_TYPES})


def record_id(record: SlackRecord) -> str:
    """The record's inbox event id: a key message's mark is its message's (marked twice, stored once)."""
    if isinstance(record, KeyMessage | KeyMessageMarked | FollowUpAdded):
        return record.event_id
    return record.id


def record_type(record: SlackRecord) -> str:
    if isinstance(record, KeyMessage):
        return contributions.KEY_MESSAGE
    if isinstance(record, KeyMessageMarked):
        return contributions.KEY_MESSAGE_MARKED
    if isinstance(record, FollowUpAdded):
        return contributions.FOLLOW_UP
    return coordination.command_type(record)


def to_json(record: SlackRecord) -> str:
    if isinstance(record, KeyMessage | KeyMessageMarked | FollowUpAdded):
        return contributions.to_json(record)
    return coordination.command_to_json(record)


def from_json(body: str) -> SlackRecord:
    """The record in an inbox row's body, read by its type; ValueError (with the reason) when it is not one."""
    try:
        document = json.loads(body)
        kind = document.get("type")
    except (json.JSONDecodeError, AttributeError, RecursionError) as error:
        raise ValueError(f"not a record Paved Road made from Slack: {error.__class__.__name__}") from None
    if _UNSTORABLE_ESCAPE.search(body):
        # Stored before what people type was made storable at the door (commands/in_flight.py): a NUL in it made
        # PostgreSQL refuse the incident it was applied to, and the record was set aside. Read so, it applies.
        body = json.dumps(storable_document(document))
    if kind in (contributions.KEY_MESSAGE, contributions.KEY_MESSAGE_MARKED, contributions.FOLLOW_UP):
        return contributions.from_json(body)
    return coordination.command_from_json(body)


def apply_slack_record(incident: Incident, record: SlackRecord, policy: ChannelPolicy) -> Decision:
    if isinstance(record, KeyMessage | KeyMessageMarked | FollowUpAdded):
        return apply_contribution(incident, record, tickets=policy.tickets)
    return apply_command(incident, record, policy)
