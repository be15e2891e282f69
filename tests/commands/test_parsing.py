"""Parsing `/incident` text: pure functions, table-driven."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.errors import UserError
from commands.parsing import parse_declare, split_subcommand, split_target, take_ref
from sandbox.pagerduty.basics import random_id
from tests.helpers import FIXTURES


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("help", "")), ("  ACK  ", ("ack", "")), ("resolve  rolled back", ("resolve", "rolled back")),
])
def test_split_subcommand(text: str, expected: tuple[str, str]) -> None:
    assert split_subcommand(text) == expected


@pytest.mark.parametrize(("rest", "in_channel", "text_follows", "expected"), [
    ("", True, False, (None, "")),
    ("1234", True, False, ("1234", "")),             # inside a channel, `ack 1234` still names another incident
    ("1234 is the ticket", True, True, (None, "1234 is the ticket")),  # but a note starting with a number is text
    ("#12 fixed it", False, True, ("12", "fixed it")),
    ("Q1ABCDEF2 fixed", False, True, ("Q1ABCDEF2", "fixed")),
    ("", False, False, (None, "")),
])
def test_take_ref(rest: str, in_channel: bool, text_follows: bool, expected: tuple[str | None, str]) -> None:
    assert take_ref(rest, in_channel, text_follows=text_follows) == expected


def test_outside_an_incident_channel_the_first_word_must_be_the_incident() -> None:
    with pytest.raises(UserError, match="not an incident number"):
        take_ref("fixed it", False, text_follows=True)


@pytest.mark.parametrize(("rest", "in_channel", "expected"), [
    ("#500 errors halved", False, ("500", "errors halved")),
    ("500", False, ("500", "")),                                # a number alone: the incident (the form opens)
    ("500 errors halved", True, (None, "500 errors halved")),   # inside its channel: the words
    ("Q1ABCDEF2 500 errors halved", False, ("Q1ABCDEF2", "500 errors halved")),
])
def test_a_number_before_someones_words_names_the_incident_only_with_a_hash_outside_a_channel(
        rest: str, in_channel: bool, expected: tuple[str | None, str]) -> None:
    assert take_ref(rest, in_channel, text_follows=True, words_follow=True) == expected
    with pytest.raises(UserError, match=r"could be incident #500 or the start of what you wrote.*`/incident update #5"):
        take_ref("500 errors halved", False, text_follows=True, words_follow=True, subcommand="update")


@pytest.mark.parametrize("digits", ["²", "١٢", "٣٠٠"])
def test_digits_that_name_no_incident_are_not_offered_as_one_with_a_hash(digits: str) -> None:
    """`/incident note ١٢ restarted` outside a channel was answered "`١٢` could be incident #١٢ … write
    `/incident note #١٢ …`", which then says `#١٢` is no incident: only ASCII digits are a number here."""
    with pytest.raises(UserError, match="is not an incident number or id") as refused:
        take_ref(f"{digits} restarted", False, text_follows=True, words_follow=True, subcommand="note")
    assert "could be incident" not in str(refused.value)


def test_a_number_followed_only_by_invisible_characters_is_a_number_alone() -> None:
    """A zero-width space pasted after the number is no start of anyone's words: the number names the incident."""
    assert take_ref("500 \u200b\u2060", False, text_follows=True, words_follow=True) == ("500", "")


def incident_ids(value: Any) -> set[str]:
    """The ids of the incidents in a PagerDuty payload (the incident, and incidents it refers to)."""
    if isinstance(value, list):
        return set().union(*(incident_ids(v) for v in value))
    if not isinstance(value, dict):
        return set()
    own = {value["id"]} if value.get("type") in ("incident", "incident_reference") else set()
    return own.union(*(incident_ids(v) for v in value.values()))


# PagerDuty's own incident ids (its webhook fixtures: 7 characters, and 14 for the newer ones), and the sandbox's.
REAL_IDS = sorted(set().union(*(incident_ids(json.loads(f.read_text())) for f in FIXTURES.glob("*.json"))))
assert {len(i) for i in REAL_IDS} == {7, 14}, REAL_IDS
ids = st.one_of(st.sampled_from(REAL_IDS), st.builds(lambda _: random_id("Q", 13), st.integers()))
# Words as people type them after a subcommand: letters, a lower-case one somewhere, of any length (a digit among
# lower-case letters may be an id typed in lower case: see the next test).
lower_case_words = st.builds(lambda head, low, tail: head + low + tail,
                             st.text(alphabet=string.ascii_letters, max_size=12),
                             st.sampled_from(string.ascii_lowercase),
                             st.text(alphabet=string.ascii_letters, max_size=12))
texts = st.sampled_from(["", "is back", "rolled back 4.2.1"])


@given(word=lower_case_words, text=texts, hashed=st.booleans(), text_follows=st.booleans())
@example(word="database", text="is back", hashed=False, text_follows=True)
@example(word="database", text="", hashed=False, text_follows=False)
def test_a_lower_case_word_is_never_taken_for_an_incident(word: str, text: str, hashed: bool,
                                                          text_follows: bool) -> None:
    typed = f"{'#' if hashed else ''}{word} {text}".strip()
    # Outside an incident channel: the person is told the incident must come first, and how to name it.
    with pytest.raises(UserError, match=r"is not an incident number or id\. Outside an incident channel, name"):
        take_ref(typed, False, text_follows=text_follows)
    # Inside one: the channel's incident, the words text (or, for a subcommand taking none, an aside: `ack on it`).
    assert take_ref(typed, True, text_follows=text_follows) == (None, typed)


@given(incident=ids, lower=st.booleans(), text=texts, hashed=st.booleans(), in_channel=st.booleans())
def test_an_incident_id_as_pagerduty_writes_it_is_always_taken(incident: str, lower: bool, text: str, hashed: bool,
                                                               in_channel: bool) -> None:
    # Typed in lower case too, when it has a digit (the store is asked in upper case: IncidentActions.incident).
    incident = incident.lower() if lower and any(c.isdigit() for c in incident) else incident
    typed = f"{'#' if hashed else ''}{incident} {text}".strip()
    assert take_ref(typed, in_channel, text_follows=False) == (incident, text)
    if hashed or not in_channel:  # inside a channel, a word starting a note is text unless "#" marks it
        assert take_ref(typed, in_channel, text_follows=True) == (incident, text)


@pytest.mark.parametrize(("text", "expected"), [
    ("Checkout can't take payments --service checkout", ("Checkout can't take payments", "checkout", "high")),
    ("--urgency LOW Slow pages --service \"Basket API\"", ("Slow pages", "Basket API", "low")),
    ("Title only", ("Title only", None, "high")),
    ("Flags=yes --service=checkout", ("Flags=yes", "checkout", "high")),
])
def test_parse_declare(text: str, expected: tuple[str, str | None, str]) -> None:
    assert parse_declare(text) == expected


def test_a_flag_without_a_value_says_what_to_write() -> None:
    with pytest.raises(UserError, match="`--service` needs a value"):
        parse_declare("Down --service")


def test_a_flag_given_twice_with_different_values_is_asked_once() -> None:
    """Found by a newcomer (session 21): the last one was taken silently, perhaps paging the wrong team."""
    with pytest.raises(UserError, match=r"`--service` is given twice .*`checkout`.*`basket`"):
        parse_declare("Down --service checkout --service basket")
    assert parse_declare("Down --urgency low --urgency low") == ("Down", None, "low")  # the same twice is clear


@pytest.mark.parametrize(("text", "expected"), [
    ('"Incident managers" need a decision', ("Incident managers", "need a decision")),
    ("“Basket on-call” please", ("Basket on-call", "please")),
    ("payments please look", ("payments", "please look")),
    ("<@U123|dev> look", ("<@U123|dev>", "look")),
])
def test_split_target(text: str, expected: tuple[str, str]) -> None:
    assert split_target(text) == expected

