"""Key messages, follow-ups and archiving in the domain (bot/domain/contributions.py, archiving.py), table-driven, with
no fakes: what applying a contribution decides, how the inbox body reads back, and when a channel is due."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.archiving import archive_delay, archive_due
from bot.domain.contributions import (
    FOLLOW_UP,
    KEY_MESSAGE,
    FollowUpAdded,
    KeyMessage,
    KeyMessageMarked,
    apply_contribution,
    from_json,
    to_json,
)
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import PostTimelineEntry, ReadKeyMessage
from bot.domain.incident import Incident, Status

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def incident(**changes: object) -> Incident:
    base = Incident(id="PINC1", number=12, title="Checkout returns 500s", status=Status.TRIGGERED, urgency="high",
                    priority="P1", service_id="PCHECKO", service_name="Checkout", escalation_policy_id=None,
                    escalation_policy_name=None, html_url="https://pd.example.com/incidents/PINC1", assignees=(),
                    triggered_at=T0, acknowledged_at=None, resolved_at=None, state_as_of=T0, dedicated_channel=True,
                    channel_requested=True)
    return replace(base, **changes)  # type: ignore[arg-type]


KEY = KeyMessage("PINC1", "C1", "1795000000.000100", "Ben Okafor", "Rolled back 4.2.1", "Asha Patel")


def test_a_key_message_is_one_attributed_line_with_the_message_time_and_no_slack_post() -> None:
    decision = apply_contribution(incident(), KEY, tickets=False)
    assert decision.entry is not None
    assert decision.entry.text == "📌 Ben Okafor: Rolled back 4.2.1" and decision.entry.kind == KEY_MESSAGE
    assert decision.entry.id == "key:C1:1795000000.000100" == KEY.entry_id  # the same message is the same line
    assert decision.entry.occurred_at == datetime.fromtimestamp(1795000000.0001, UTC)
    assert decision.effects == () and decision.incident == incident()


MARK = KeyMessageMarked("PINC1", "C1", "1795000000.000100", "UASHA")


def test_a_mark_is_no_line_yet_but_the_message_to_read_in_a_queue_of_its_own() -> None:
    # Slack may not give the message back at once (429s in an outage): the read is an effect, retried, that holds up
    # none of the incident's other Slack work.
    decision = apply_contribution(incident(), MARK, tickets=True)
    assert decision.entry is None and decision.incident == incident()
    assert decision.effects == (ReadKeyMessage("PINC1", "C1", "1795000000.000100", "UASHA"),)
    assert decision.effects[0].queue == "keymessage:PINC1" and decision.effects[0].system == "slack"


def test_a_mark_has_the_messages_id_and_its_read_one_of_its_own() -> None:
    # Two people's 📌 (or two replicas' events) are one mark; the read, recorded again by a retry, is one row too; and
    # a message recorded before marks were (its row keyed by the message) is not marked again.
    assert MARK.event_id == KeyMessageMarked("PINC1", "C1", MARK.ts, "UBEN").event_id == KEY.entry_id
    assert KEY.event_id not in (MARK.event_id, KEY.entry_id)


def test_follow_ups_are_numbered_told_in_the_channel_and_sent_to_the_ticket() -> None:
    first = FollowUpAdded("PINC1", "a1", "Add an alert on 5xx", "Ben Okafor", T0, "U1", "Chloe Martin")
    decision = apply_contribution(incident(), first, tickets=True)
    assert decision.incident is not None and [f.number for f in decision.incident.follow_ups] == [1]
    assert decision.entry is not None and decision.entry.kind == FOLLOW_UP
    assert decision.entry.text == "Follow-up #1 by Ben Okafor: Add an alert on 5xx (owner: Chloe Martin)"
    assert decision.effects == (PostTimelineEntry("PINC1", "followup:a1"), SyncTicket("PINC1"))
    second = FollowUpAdded("PINC1", "a2", "Runbook for rollbacks", "Asha Patel", T0 + timedelta(minutes=5))
    after = apply_contribution(decision.incident, second, tickets=False)
    assert after.incident is not None and [f.number for f in after.incident.follow_ups] == [1, 2]
    assert after.incident.follow_ups[1].owner is None and after.entry is not None
    assert after.entry.text.endswith("Runbook for rollbacks")


def test_a_follow_up_on_an_incident_without_a_channel_is_not_posted() -> None:
    decision = apply_contribution(incident(channel_requested=False, status=Status.RESOLVED),
                                  FollowUpAdded("PINC1", "a1", "x", "Ben", T0), tickets=False)
    assert decision.effects == ()


@pytest.mark.parametrize("event", [KEY, MARK, FollowUpAdded("PINC1", "a1", "Add an alert", "Ben", T0, "U1", "Chloe")])
def test_contributions_read_back_as_written(event: KeyMessage | KeyMessageMarked | FollowUpAdded) -> None:
    assert from_json(to_json(event)) == event


@pytest.mark.parametrize("body", ["", "[]", "{}", '{"type": "key_message"}', '{"type": "other"}',
                                  '{"type": "key_message", "incident_id": "P", "channel": "C", "ts": "not-a-ts", '
                                  '"author": "a", "text": "t", "marked_by": "m"}',
                                  '{"type": "key_message_marked", "incident_id": "P", "channel": "C", "ts": "1.2"}',
                                  '{"type": "key_message_marked", "incident_id": "P", "channel": "C", "ts": "x", '
                                  '"marked_by": "m"}',
                                  '{"type": "follow_up", "incident_id": "P", "id": "1", "text": "t", '
                                  '"added_by": "b", "added_at": "yesterday"}'])
def test_a_body_that_is_not_a_contribution_is_a_value_error(body: str) -> None:
    with pytest.raises(ValueError):
        from_json(body)


@pytest.mark.parametrize(("text", "delay"), [
    ("7d", timedelta(days=7)), ("36h", timedelta(hours=36)), ("90m", timedelta(minutes=90)),
    ("2 days", timedelta(days=2)), ("never", None), (" Never ", None), ("1.5h", timedelta(minutes=90)),
])
def test_archive_after_reads_days_hours_minutes_or_never(text: str, delay: timedelta | None) -> None:
    assert archive_delay(text) == delay


@pytest.mark.parametrize("text", ["", "7", "soon", "0d", "-1d", "7 weeks", "d7"])
def test_an_unreadable_archive_after_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match="'7d', '36h' or '90m', or 'never'"):
        archive_delay(text)


RESOLVED = incident(status=Status.RESOLVED, resolved_at=T0 + timedelta(hours=1))


@pytest.mark.parametrize(("case", "subject", "after", "due"), [
    ("resolved longer ago than the delay", RESOLVED, timedelta(days=8), True),
    ("resolved exactly the delay ago", RESOLVED, timedelta(days=7), True),
    ("resolved less than the delay ago", RESOLVED, timedelta(days=6), False),
    ("open again (reopened)", replace(RESOLVED, status=Status.ACKNOWLEDGED, resolved_at=None), timedelta(days=30),
     False),
    ("its card is in a team channel", replace(RESOLVED, dedicated_channel=False), timedelta(days=30), False),
    ("never had a channel (first seen resolved)", replace(RESOLVED, channel_requested=False), timedelta(days=30),
     False),
])
def test_when_a_channel_is_due_to_be_archived(case: str, subject: Incident, after: timedelta, due: bool) -> None:
    now = (RESOLVED.resolved_at or T0) + after
    assert archive_due(subject, now, timedelta(days=7)) is due, case
    assert archive_due(subject, now, None) is False  # "never"


def test_a_read_given_up_on_tells_the_operators_which_message_to_add_by_hand() -> None:
    read = ReadKeyMessage("PINC1", "C1", "1795000000.000100", "UASHA")
    alert = read.dead_alert(300, "slack: conversations.history failed: <ratelimited>")
    assert alert is not None
    assert "<#C1>" in alert and "1795000000.000100" in alert and "`/incident note`" in alert
    assert "&lt;ratelimited&gt;" in alert  # Slack's words shown, never markup
