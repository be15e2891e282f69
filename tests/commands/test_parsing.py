"""Parsing `/incident` text: pure functions, table-driven."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from commands.parsing import parse_declare, split_subcommand, split_target, take_ref


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


@pytest.mark.parametrize(("text", "expected"), [
    ('"Incident managers" need a decision', ("Incident managers", "need a decision")),
    ("“Basket on-call” please", ("Basket on-call", "please")),
    ("payments please look", ("payments", "please look")),
    ("<@U123|dev> look", ("<@U123|dev>", "look")),
])
def test_split_target(text: str, expected: tuple[str, str]) -> None:
    assert split_target(text) == expected

