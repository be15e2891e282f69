"""Slack-safe text (bot/render/format.py): clipping with a pointer to the whole, clipping markup without breaking a
link or an entity, and links only to URLs that cannot carry markup. Table-driven."""

from __future__ import annotations

import pytest

from bot.render.format import clip, clip_mrkdwn, code_block, escape, full_text_at, link, web_url
from tests.e2e.sandbox_helpers import code_blocks_shown


@pytest.mark.parametrize(("text", "limit", "more", "clipped"), [
    ("short", 10, " (more)", "short"),
    ("x" * 30, 20, " (more)", "x" * 12 + "… (more)"),
    ("x" * 30, 5, " (much more than fits)", "xxxx…"),  # the pointer does not fit: an ellipsis alone
])
def test_clip_says_where_the_rest_is(text: str, limit: int, more: str, clipped: str) -> None:
    assert clip(text, limit, more) == clipped


@pytest.mark.parametrize(("text", "limit", "clipped"), [
    ("a &amp; b", 7, "a …"),                                     # never "a &am…": the entity goes whole
    ("see <https://x.pagerduty.com/incidents/Q1|PagerDuty> now", 30, "see …"),  # nor half a link
    ("<@U123> and <#C123>", 12, "<@U123> and…"),
    ("<@U123> and <#C123>", 15, "<@U123> and …"),
    ("plain text", 20, "plain text"),
])
def test_clip_mrkdwn_never_cuts_an_entity_or_a_link_in_two(text: str, limit: int, clipped: str) -> None:
    assert clip_mrkdwn(text, limit) == clipped


def test_clip_mrkdwn_may_point_to_the_whole_with_a_link() -> None:
    more = full_text_at("PagerDuty", "https://acme.pagerduty.com/incidents/Q1", "title")
    clipped = clip_mrkdwn(escape("<" * 500), 100, more)
    assert clipped.endswith("… (full title in <https://acme.pagerduty.com/incidents/Q1|PagerDuty>)")
    assert len(clipped) <= 100 and clipped.startswith("&lt;&lt;")



def test_clip_mrkdwn_with_no_room_to_say_where_still_cuts_no_entity() -> None:
    """A link to the whole longer than the room left (a long incident URL): the text alone, still cut between
    entities — found by tests/property/test_text_limits.py (a title of '00<' * 167 left a bare '&')."""
    more = full_text_at("PagerDuty", "https://acme.pagerduty.com/incidents/" + "Q" * 120, "title")
    for limit in range(40, 60):
        clipped = clip_mrkdwn(escape("00<" * 167), limit, more)
        assert len(clipped) <= limit and clipped.endswith("…"), clipped
        assert "&" not in clipped.replace("&lt;", ""), clipped  # never "&l…" or a bare "&"

@pytest.mark.parametrize(("url", "safe"), [
    ("https://acme.pagerduty.com/incidents/Q1", "https://acme.pagerduty.com/incidents/Q1"),
    ("http://127.0.0.1:3000/sandbox/pagerduty/incidents/Q1", "http://127.0.0.1:3000/sandbox/pagerduty/incidents/Q1"),
    ("https://x.pagerduty.com/incidents/Q1|<!channel>", "https://x.pagerduty.com/incidents/Q1%7C%3C!channel%3E"),
    ("https://x.pagerduty.com/a b?c=1&d=2", "https://x.pagerduty.com/a%20b?c=1&amp;d=2"),
    ("https://evil.example>click", None),         # a host cannot have ">": no link at all
    ("https://acme.pagerduty.com@evil.example/", None),  # a user part hides where it leads
    ("javascript:alert(1)", None),
    ("ftp://acme.pagerduty.com/x", None),
    ("", None),
    ("https://[::1", None),                       # not even a URL
])
def test_only_plain_http_urls_become_links(url: str, safe: str | None) -> None:
    assert web_url(url) == safe


def test_a_url_that_cannot_be_a_link_is_shown_as_code() -> None:
    assert link("https://evil.example>click", "Open in PagerDuty") == "Open in PagerDuty `https://evil.example&gt;click`"
    assert link("", "Open in PagerDuty") == "Open in PagerDuty"
    assert link("https://acme.pagerduty.com/incidents/Q1", "Open") == "<https://acme.pagerduty.com/incidents/Q1|Open>"


def test_escape_shows_half_an_emoji_as_a_replacement_character() -> None:
    assert escape("S\ud83d <b>") == "S\ufffd &lt;b&gt;"


@pytest.mark.parametrize("typed", [
    "```",                                   # a fence alone
    "```kubectl rollout undo```",            # a pasted command in its fence
    "`single` and ``double`` backticks",
    "ends with a backtick `",
    "` starts with one",
    "<!channel> & <@U123> *bold* _it_",      # markup stays text inside the block
])
def test_a_code_block_shows_outside_text_whole_as_typed(typed: str) -> None:
    block = code_block(typed)
    assert code_blocks_shown(block) == [typed], block
    inside = block.removeprefix("```\n").removesuffix("\n```")
    assert "<" not in inside and "``" not in inside, block


def test_escape_leaves_out_what_no_reader_sees_but_which_changes_what_they_read() -> None:
    """Found by a newcomer (session 21): a U+202E (right-to-left override) in a PagerDuty title reversed the rest of
    the card's line; BEL and ESC sequences reached Slack as they were."""
    assert escape("Checkout \u202edevlos\u202c is down") == "Checkout devlos is down"
    assert escape("a\u2066b\u2069c\u202ad") == "abcd"
    assert escape("bell\x07 esc\x1b[31m red\x7f c1\x85") == "bell esc[31m red c1"
    assert escape("line one\nline two\ttabbed\r") == "line one\nline two\ttabbed\r"  # kept: they are seen
    assert escape("مرحبا Hello") == "مرحبا Hello"  # right-to-left text itself is untouched
