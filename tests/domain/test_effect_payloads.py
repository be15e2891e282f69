"""What an effect's payload holds, as the outbox stores it: a field added by a later version is written only when it
says something, so that the effects of every other incident keep the shape an earlier version reads (a rolling
upgrade runs both versions on one store; a rollback leaves the newer one's rows to the older)."""

from __future__ import annotations

from bot.domain.effects import AlertOperators
from bot.domain.effects.kinds import effect_from_row
from bot.domain.effects.servicenow import SyncTicket


def test_a_sync_ticket_names_a_moved_channel_only_when_there_is_one() -> None:
    assert SyncTicket("P1").payload() == {"incident_id": "P1", "no_channel": False}  # as session 21 wrote it
    moved = SyncTicket("P1", channel_moved=True)
    assert moved.payload() == {"incident_id": "P1", "no_channel": False, "channel_moved": True}
    assert effect_from_row("sync_ticket", moved.payload()) == moved
    assert effect_from_row("sync_ticket", SyncTicket("P1").payload()) == SyncTicket("P1")


def test_an_operators_alert_keeps_its_group_in_its_queue_not_a_field_an_earlier_version_cannot_read() -> None:
    """Found in review: a `group` field made every grouped alert unreadable by an earlier version (after a rollback)
    at the head of the one operators' queue, and every alert behind it waited for a newer replica."""
    assert AlertOperators("operators", "⚠️ x").group == ""
    grouped = AlertOperators.grouped("dead:servicenow:403", "⚠️ x")
    assert grouped.payload() == {"incident_id": "operators:dead:servicenow:403", "text": "⚠️ x"}  # as ever
    assert grouped.group == "dead:servicenow:403" and grouped.queue == "slack:operators:dead:servicenow:403"
    assert effect_from_row("alert_operators", grouped.payload()) == grouped
    assert AlertOperators("person:U1", "⚠️ x").group == ""
