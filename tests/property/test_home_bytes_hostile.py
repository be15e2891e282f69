"""Whatever titles, names and notes the App Home shows — emoji, CJK, astral characters, Slack markup — the view stays
within Slack's 250 KB and its blocks' limits, and clipping to bytes never leaves a mention, link or entity cut in
two (bot/render/home.py, `_fitted`), nor an emoji, flag or accented letter (one grapheme cluster) cut in two.
Property-based, over hostile text."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render.home import VIEW_BYTES, HomeContent, HomeIncident, OnCallNow, WaitingNote, home_view
from sandbox.slack.blocks import block_errors
from tests.domain.handover_shift import incident

HOSTILE = st.lists(st.sampled_from(["😀", "👩‍👩‍👧", "🇯🇵", "漢", "字", "&", "<", ">", "|", "@", "<!here>", "<@U1>",
                                   "&amp;", "é", "\u0301", "\U0001f9d1\U0001f3fd", "a", " ", "\n", "*"]),
                   max_size=900).map("".join)
# Grapheme clusters of several code points, none of which begins with a character the Home writes itself nor with
# another's first character alone: a family (ZWJ), a skin tone, flags (regional indicators; tags), an emoji with its
# variation selector, a letter with combining accents, a Hangul syllable in jamo.
CLUSTERS = ["👩\u200d👩\u200d👧", "🧑\U0001f3fd", "🇯🇵", "🇬🇧", "❤\ufe0f", "\u0416\u0301\u0308", "\u1100\u1161\u11a8",
            "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]
# Every character that is part of a cluster: one seen outside a whole cluster is a cluster cut in two.
_IN_CLUSTERS = set("".join(CLUSTERS))
CLUSTERED = st.lists(st.sampled_from([*CLUSTERS, "a", " ", "漢"]), min_size=1, max_size=1200).map("".join)
# A mention, channel or link, whole: `<` then no `<` or `>` until its `>`; an entity the escaping wrote, whole.
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def texts(view: dict[str, object]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(view)
    return found


@settings(max_examples=40, deadline=None)
@given(titles=st.lists(HOSTILE, min_size=1, max_size=25), words=st.lists(HOSTILE, min_size=1, max_size=20))
def test_a_home_of_hostile_text_fits_slack_and_cuts_no_markup_in_two(titles: list[str], words: list[str]) -> None:
    base = incident(1, "2026-11-27T10:00")
    open_ = tuple(HomeIncident(replace(base, id=f"P{n}", number=n, title=title, service_name=words[n % len(words)]),
                               f"C{n:08d}") for n, title in enumerate(titles))
    content = HomeContent(
        name=words[0], mine=open_, open=open_,
        on_call=tuple(OnCallNow(word, (word, word)) for word in words),
        notes=tuple(WaitingNote(word, word, word * 3) for word in words), now=base.triggered_at + timedelta(hours=1))
    view = home_view(content)
    assert block_errors(view["blocks"], "/view/blocks", 100) == []
    assert len(json.dumps(view).encode()) <= VIEW_BYTES
    for text in texts(view):
        assert not _ENTITY.search(text), f"an entity cut in two: {text[-40:]!r}"
        assert re.fullmatch(r"(?:[^<>]|<[^<>]*>)*", text, re.S), f"a mention or link cut in two: {text[-60:]!r}"


def clusters_cut(text: str) -> list[str]:
    """The places in `text` where a character of a cluster stands outside a whole one."""
    cut, index = [], 0
    while index < len(text):
        whole = next((c for c in CLUSTERS if text.startswith(c, index)), None)
        if whole is not None:
            index += len(whole)
            continue
        if text[index] in _IN_CLUSTERS:
            cut.append(text[max(index - 8, 0):index + 8])
        index += 1
    return cut


@settings(max_examples=40, deadline=None)
@given(titles=st.lists(CLUSTERED, min_size=1, max_size=25), words=st.lists(CLUSTERED, min_size=1, max_size=20))
def test_a_home_clipped_to_its_bytes_cuts_no_emoji_flag_or_accent_in_two(titles: list[str], words: list[str]) -> None:
    """A title of family emoji clipped to Slack's bytes ended "👩\u200d👩…" (a dangling joiner: a broken glyph); a
    flag's second letter or a skin tone dropped showed a letter in a box or another person."""
    base = incident(1, "2026-11-27T10:00")
    open_ = tuple(HomeIncident(replace(base, id=f"P{n}", number=n, title=title, service_name=words[n % len(words)]),
                               f"C{n:08d}") for n, title in enumerate(titles))
    content = HomeContent(
        name=words[0], mine=open_, open=open_,
        on_call=tuple(OnCallNow(word, (word, word)) for word in words),
        notes=tuple(WaitingNote(word, word, word * 3) for word in words), now=base.triggered_at + timedelta(hours=1))
    view = home_view(content)
    assert len(json.dumps(view).encode()) <= VIEW_BYTES
    for text in texts(view) + [str(block["text"]["text"]) for block in view["blocks"] if block["type"] == "header"]:
        assert clusters_cut(text) == [], text[-80:]
