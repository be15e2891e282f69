"""What an effect's payload holds, as the outbox stores it: a field added by a later version is written only when it
says something, so that the effects of every other incident keep the shape an earlier version reads (a rolling
upgrade runs both versions on one store; a rollback leaves the newer one's rows to the older)."""

from __future__ import annotations

from bot.domain.effects import SyncTicket, effect_from_row


def test_a_sync_ticket_names_a_moved_channel_only_when_there_is_one() -> None:
    assert SyncTicket("P1").payload() == {"incident_id": "P1", "no_channel": False}  # as session 21 wrote it
    moved = SyncTicket("P1", channel_moved=True)
    assert moved.payload() == {"incident_id": "P1", "no_channel": False, "channel_moved": True}
    assert effect_from_row("sync_ticket", moved.payload()) == moved
    assert effect_from_row("sync_ticket", SyncTicket("P1").payload()) == SyncTicket("P1")
