"""What the inbox records from Slack (bot/domain/from_slack.py): one reader for key messages, follow-ups and the
incident manager's commands — each reads back as written under its own type and id, applies through its own rules,
and anything else is a ValueError the worker quarantines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.contributions import FollowUpAdded, KeyMessage, KeyMessageMarked
from bot.domain.coordination import (
    ReminderDue,
    RoleAssignment,
    RoleHolder,
    StatusUpdate,
    StatusUpdatePosted,
)
from bot.domain.events import Person
from bot.domain.from_slack import SlackRecord, apply_slack_record, from_json, record_id, record_type, to_json
from bot.domain.incident import ChannelPolicy, Incident, Status

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ERIN = RoleHolder("commander", "UERIN", "Erin Walsh")
RECORDS: list[tuple[SlackRecord, str, str]] = [
    (KeyMessage("PINC1", "C1", "1764237600.000100", "Ben Okafor", "error rate back down", "Erin Walsh"),
     "key_message", "key-read:C1:1764237600.000100"),
    (FollowUpAdded("PINC1", "a1", "Alert on 5xx", "Ben Okafor", T0, "UCHLOE", "Chloe Martin"), "follow_up",
     "followup:a1"),
    (RoleAssignment("r1", "PINC1", T0, ERIN, "UBEN", "Ben Okafor"), "role.assigned", "r1"),
    (StatusUpdatePosted("u1", "PINC1", T0, StatusUpdate("u1", T0, "Erin Walsh", "Rolling back", "1 in 5 fail",
                                                        T0 + timedelta(minutes=30), "UERIN")),
     "status_update.posted", "u1"),
    (ReminderDue("reminder:PINC1", "PINC1", T0, T0 - timedelta(minutes=30), 1), "status_update.reminder",
     "reminder:PINC1"),
    (KeyMessageMarked("PINC1", "C1", "1764237600.000100", "UERIN"), "key_message_marked", "key:C1:1764237600.000100"),
]


def incident() -> Incident:
    return Incident(id="PINC1", number=12, title="Checkout returns 500s", status=Status.ACKNOWLEDGED, urgency="high",
                    priority="P1", service_id="PCHECKO", service_name="Checkout", escalation_policy_id=None,
                    escalation_policy_name=None, html_url="https://pd.example.com/incidents/PINC1",
                    assignees=(Person("P1", "Ben Okafor"),), triggered_at=T0 - timedelta(hours=1),
                    acknowledged_at=T0 - timedelta(minutes=50), resolved_at=None, state_as_of=T0,
                    dedicated_channel=True, channel_requested=True)


@pytest.mark.parametrize(("record", "kind", "event_id"), RECORDS)
def test_every_record_reads_back_under_its_type_and_id(record: SlackRecord, kind: str, event_id: str) -> None:
    body = to_json(record)
    assert json.loads(body)["type"] == record_type(record) == kind
    assert record_id(record) == event_id
    assert from_json(body) == record


def test_each_record_is_applied_by_its_own_rules() -> None:
    follow_up = apply_slack_record(incident(), RECORDS[1][0], ChannelPolicy(tickets=True))
    assert follow_up.incident is not None and [f.text for f in follow_up.incident.follow_ups] == ["Alert on 5xx"]
    role = apply_slack_record(incident(), RECORDS[2][0], ChannelPolicy())
    assert role.incident is not None and role.incident.commander == ERIN
    posted = apply_slack_record(incident(), RECORDS[3][0], ChannelPolicy())
    assert posted.incident is not None and posted.incident.last_update is not None
    assert posted.incident.last_update.what == "Rolling back"


@pytest.mark.parametrize("body", ["", "null", "[]", "{}", '"key_message"', '{"type": "other"}',
                                  '{"type": "follow_up"}', '{"type": "role.assigned", "at": "2026-11-27"}',
                                  "[" * 100_000])
def test_a_body_that_is_no_record_is_a_value_error(body: str) -> None:
    with pytest.raises(ValueError):
        from_json(body)
