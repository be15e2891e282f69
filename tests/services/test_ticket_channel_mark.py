"""The name a ticket was last told its channel has, read back from its work notes' marks
(bot/services/ticket_description.py `told_name`): the newest of the bot's own notes, never a desk's note quoting a
mark (found in review: a desk note ending with a copied mark made the next rename's note name that channel)."""

from __future__ import annotations

from bot.services.ticket_description import channel_mark, told_name


def bots_note(channel: str, name: str) -> str:
    return f"Paved Road: the incident's Slack channel #old was renamed #{name} in Slack.\n{channel_mark(channel, name)}"


def test_the_newest_of_the_bots_marks_for_the_channel_is_the_name_told() -> None:
    notes = [bots_note("C1", "inc-1-db"), bots_note("C2", "inc-2-other"), bots_note("C1", "inc-1-db-pool"),
             "jane.agent: looking into it"]
    assert told_name(notes, "C1") == "inc-1-db-pool"
    assert told_name(notes, "C2") == "inc-2-other"
    assert told_name(notes, "C3") is None


def test_a_desk_note_quoting_a_mark_is_not_what_the_ticket_was_told() -> None:
    desk = f"Copied from the last note, see below\n{channel_mark('C1', 'inc-1-fake')}"
    assert told_name([bots_note("C1", "inc-1-db"), desk], "C1") == "inc-1-db"
    assert told_name([desk], "C1") is None


def test_a_name_with_odd_characters_reads_back_as_it_was_written() -> None:
    for name in ["inc-1-db]", "inc 1 #db", "inc-1-é😀"]:
        assert told_name([bots_note("C1", name)], "C1") == name
