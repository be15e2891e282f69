"""The count in a work note's channel mark (bot/services/ticket_description.py `channel_mark`, `told_name`):
ServiceNow's journal is ordered by `sys_created_on`, to the second, and one second's entries come back in no set
order — two renames told in the same second were read back the wrong way round. The highest count is the name last
told; an older release's mark (no count) reads as 0, and a count the bot never writes makes no mark."""

from __future__ import annotations

from bot.services.ticket_description import channel_mark, told_name


def bots_note(channel: str, name: str, count: int) -> str:
    return (f"Paved Road: the incident's Slack channel #old was renamed #{name} in Slack.\n"
            f"{channel_mark(channel, name, count)}")


def test_the_highest_count_is_the_name_last_told_whatever_the_journals_order() -> None:
    notes = [bots_note("C1", "inc-1-db-pool", 2), bots_note("C1", "inc-1-db", 1)]  # one second's two, read reversed
    assert told_name(notes, "C1") == "inc-1-db-pool"
    assert told_name(notes[::-1], "C1") == "inc-1-db-pool"


def test_an_older_releases_mark_reads_as_counting_0() -> None:
    older = bots_note("C1", "inc-1-db", 0)
    assert older.endswith("\n[paved-road channel C1 #inc-1-db]")  # the older releases' mark, written as it was
    assert told_name([older], "C1") == "inc-1-db"
    assert told_name([bots_note("C1", "inc-1-db-pool", 1), older], "C1") == "inc-1-db-pool"
    assert told_name([older, bots_note("C1", "inc-1-other", 0)], "C1") == "inc-1-other"  # equal: the journal's order


def test_the_count_goes_between_the_id_and_the_name_any_name_read_back_whole() -> None:
    assert channel_mark("C1", "inc-1-db", 7) == "[paved-road channel C1 7 #inc-1-db]"
    for name in ["inc-1-db 7", "inc 1 #db 3", "inc-1-é😀]"]:
        assert told_name([bots_note("C1", name, 3)], "C1") == name
        assert told_name([bots_note("C1", name, 0)], "C1") == name


def test_a_count_the_bot_never_writes_makes_no_mark() -> None:
    for count in ["0", "007", "\u0663", "-1", "9" * 5_000, "x", "1 2"]:
        note = f"Paved Road: renamed.\n[paved-road channel C1 {count} #inc-1-fake]"
        assert told_name([bots_note("C1", "inc-1-db", 1), note], "C1") == "inc-1-db", count
