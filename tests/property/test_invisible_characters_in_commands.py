"""Invisible characters pasted into an `/incident` command (zero-width spaces, joiners, a word joiner, a byte-order
mark, from a runbook page or a chat client) and non-breaking spaces change nothing it means: a number followed only
by them is a number alone (`/incident resolve 2 <zero-width space>` in #inc-1 names #2, as `/incident resolve 2`
does, not a resolution note "2"), and a word of them alone is no word. Property-based, over commands/parsing.py."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.domain.slack_text import visible
from commands.parsing import split_subcommand, take_ref

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
padding = st.lists(st.sampled_from([*INVISIBLE, " ", "\u00a0", "\n", "\t"]), max_size=8).map("".join)
spacing = st.lists(st.sampled_from([" ", "\u00a0", "\n"]), min_size=1, max_size=3).map("".join)
numbers = st.integers(min_value=1, max_value=10**6).map(str)
words = st.lists(st.from_regex(r"[a-z][a-z0-9.,'-]{0,11}", fullmatch=True), min_size=1, max_size=6)


@given(number=numbers, before=padding, after=padding, hashed=st.booleans(), in_channel=st.booleans(),
       text_follows=st.booleans(), words_follow=st.booleans())
@example(number="2", before="", after=" \u200b", hashed=False, in_channel=True, text_follows=True, words_follow=True)
def test_a_number_followed_only_by_invisible_characters_is_the_incident_and_nothing_more(
        number: str, before: str, after: str, hashed: bool, in_channel: bool, text_follows: bool,
        words_follow: bool) -> None:
    typed = before + ("#" if hashed else "") + number + after
    assert take_ref(typed, in_channel, text_follows=text_follows, words_follow=words_follow) == (number, "")


@given(subcommand=st.sampled_from(["resolve", "note", "ack", "update"]), number=numbers, before=padding,
       between=padding, after=padding)
@example(subcommand="resolve", number="2", before="", between=" ", after=" \u200b")
def test_a_command_of_a_number_and_invisible_characters_names_the_incident(subcommand: str, number: str,
                                                                         before: str, between: str,
                                                                         after: str) -> None:
    name, rest = split_subcommand(f"{before}{subcommand} {between}{number}{after}")
    assert name == subcommand
    assert take_ref(rest, True, text_follows=True, words_follow=True) == (number, "")


@given(said=words, glue=st.lists(st.tuples(padding, spacing, padding), min_size=7, max_size=7),
       in_channel=st.booleans(), hashed=st.booleans())
def test_invisible_characters_between_the_words_change_neither_the_incident_nor_the_words(
        said: list[str], glue: list[tuple[str, str, str]], in_channel: bool, hashed: bool) -> None:
    """`#12 db back` and the same with invisible characters around each word: the same incident, the same words."""
    plain = take_ref(" ".join(["#12" if hashed else "PABC123", *said]), in_channel, text_follows=True,
                     words_follow=True)
    pasted = "".join(f"{left}{word}{right}{space}" for word, (left, space, right)
                     in zip(["#12" if hashed else "PABC123", *said], glue, strict=False))
    ref, text = take_ref(pasted, in_channel, text_follows=True, words_follow=True)
    assert ref == plain[0]
    assert visible(text).split() == plain[1].split()
