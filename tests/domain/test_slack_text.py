"""Slack's markup as people outside Slack read it (bot/domain/slack_text.py), table-driven: each kind of markup Slack
sends, with and without the names the caller found, and the escapes undone once."""

from __future__ import annotations

import pytest

from bot.domain.slack_text import mentioned_users, readable

NAMES = {"U123": "Ben Okafor", "W9": "Chloe Martin"}


@pytest.mark.parametrize(("slack", "read"), [
    # Mentions: the name found, else the label Slack gave, else the id.
    ("ask <@U123> or <@W9|chloe.martin>", "ask @Ben Okafor or @Chloe Martin"),
    ("ask <@U777> or <@U778|dev.sharma> or <@U779|@dev>", "ask @U777 or @dev.sharma or @dev"),
    ("<@U123|ben.okafor>, rolled back?", "@Ben Okafor, rolled back?"),
    # Channels, broadcasts, user groups, dates.
    ("see <#C1|inc-12-checkout> and <#C2>", "see #inc-12-checkout and #C2"),
    ("<!here> <!channel|channel> <!everyone> rollback done", "@here @channel @everyone rollback done"),
    ("<!subteam^S123|@sre> and <!subteam^S456>", "@sre and @S456"),
    ("since <!date^1392734382^{date_short}|Feb 18, 2014>", "since Feb 18, 2014"),
    # Links: the label and the address, the address alone, an email address once.
    ("<https://status.example.com|the status page>", "the status page (https://status.example.com)"),
    ("<https://x.example.com> and <https://y.example|https://y.example>", "https://x.example.com and https://y.example"),
    ("mail <mailto:oncall@example.com|oncall@example.com>", "mail oncall@example.com"),
    ("<https://x.example/?a=1&amp;b=2|R&amp;D>", "R&D (https://x.example/?a=1&b=2)"),
    # Slack's three escapes, undone once: a typed "&lt;" stays "&lt;".
    ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
    ("typed &amp;lt;b&amp;gt; literally", "typed &lt;b&gt; literally"),
    ("emoji 🔥 and عربى", "emoji 🔥 and عربى"),
    ("  spaces kept  ", "  spaces kept  "),
])
def test_slack_markup_reads_as_people_read_it(slack: str, read: str) -> None:
    assert readable(slack, NAMES) == read


def test_without_names_a_mention_is_its_label_or_its_id() -> None:
    assert readable("ask <@U123> or <@W9|chloe.martin>") == "ask @U123 or @chloe.martin"


def test_a_name_is_put_in_as_given_not_unescaped() -> None:
    # A name is the caller's plain text, not Slack's escaped text: "&amp;" in a name is what the person called themself.
    assert readable("<@U1>", {"U1": "R&amp;D <team>"}) == "@R&amp;D <team>"


def test_mentioned_users_are_each_listed_once_in_order() -> None:
    slack = "<@U2> <#C1|x> <@U1|ben> <!here> <@U2|again> <https://x.example|@U3> &lt;@U4&gt;"
    assert mentioned_users(slack) == ["U2", "U1"]
