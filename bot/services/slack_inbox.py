"""Recording what people do in Slack in the inbox (source "slack", bot/domain/from_slack.py): the one way key
messages, follow-ups, role changes, status updates and due reminders enter it, so each is stored once (its id is the
inbox's event id) before anyone is answered, and the worker applies it in order with the incident's other events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.from_slack import SOURCE, SlackRecord, record_id, record_type, to_json
from bot.ports.store import Inbox, NewDelivery


async def record_from_slack(inbox: Inbox, record: SlackRecord, at: datetime) -> bool:
    """Store the record; False when it was stored before (a repeat)."""
    event_id = record_id(record)
    return await inbox.record_delivery(source=SOURCE, delivery_id=event_id, event_id=event_id,
                                       event_type=record_type(record), incident_id=record.incident_id,
                                       occurred_at=at.isoformat(), body=to_json(record))


async def record_all_from_slack(inbox: Inbox, records: Sequence[SlackRecord], at: datetime) -> int:
    """Store the records in one transaction, in their order (a run of the reminder job: one commit for all it found
    due, not one each); how many were new."""
    stored = await inbox.record_deliveries([
        NewDelivery(SOURCE, record_id(record), record_id(record), record_type(record), record.incident_id,
                    at.isoformat(), to_json(record)) for record in records])
    return sum(stored)
