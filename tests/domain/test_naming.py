"""Channel names: Slack's rules, long titles, the pattern's fields."""

from __future__ import annotations

import re

import pytest

from bot.domain.naming import channel_name, slugify, with_suffix

SLACK_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


@pytest.mark.parametrize(("title", "expected"), [
    ("Checkout returns 500s", "inc-12-checkout-returns-500s"),
    ("Café: Ünïcödé — and 🔥 emoji!!", "inc-12-cafe-unicode-and-emoji"),
    ("   ", "inc-12"),
    ("日本語のタイトル", "inc-12"),
    ("UPPER_case_and-dashes", "inc-12-upper_case_and-dashes"),
])
def test_channel_names_follow_slack_rules(title: str, expected: str) -> None:
    name = channel_name("inc-{number}-{slug}", number=12, title=title, service="Basket API", incident_id="Q1")
    assert name == expected
    assert SLACK_NAME.match(name)


def test_long_titles_are_cut_to_80_characters() -> None:
    name = channel_name("inc-{number}-{slug}", number=123456, title="database " * 40, service="s", incident_id="Q")
    assert len(name) <= 80 and SLACK_NAME.match(name) and name.startswith("inc-123456-database")
    assert SLACK_NAME.match(with_suffix(name, 1)) and with_suffix(name, 1).endswith("-2")


def test_pattern_fields() -> None:
    assert channel_name("{service}-{id}", number=1, title="t", service="Basket API", incident_id="Q1AB") == \
        "basket-api-q1ab"


def test_slugify_limit() -> None:
    assert slugify("a-b-c-d", 3) == "a-b"
