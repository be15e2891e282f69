"""Whatever a person types in the sandbox page's message box, and whatever text the bot puts in a message, the page
shows it without ever letting it become markup: typed text reaches Slack escaped (only Slack's own `<@…>`, `<#…>`
and links stay markup), and mrkdwn and Block Kit text render to HTML with no tag or attribute of the text's making.
Property-based, on the real functions the message route and the page use."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from bot.catalogue import SandboxPerson
from sandbox.slack.person import typed_text
from sandbox.slack.workspace import SlackWorkspace
from sandbox.ui.blockkit import Names, blocks, mrkdwn

WORKSPACE = SlackWorkspace(people=[SandboxPerson(name="Chloe Martin", email="chloe.martin@example.com", slack=True,
                                                 pagerduty=True)], channels=["team-basket"], signing_secret="s")
NAMES = Names(user=lambda u: "Chloe <b>Martin</b>" if u.startswith("U") else None, channel=lambda c: None)
pieces = st.one_of(st.text(max_size=20), st.sampled_from([
    "<", ">", "&", "&amp;", "&lt;", "<@U1>", "<@U1|x>", "<#C1>", "<!here>", "<https://a.example|x>",
    "<javascript:alert(1)|x>", '"', "'", "*", "_", "~", "`", "```", ":fire:", "@chloe.martin", "#team-basket",
    "<script>", "<img src=x onerror=alert(1)>", "\n", "onload=", "<a href='x'>"]))
texts = st.lists(pieces, max_size=12).map("".join)
SLACK_MARKUP = re.compile(r"<(?:[@#!][^<>]+|https?://[^<>]+)>")
ALLOWED_TAGS = {"strong", "em", "del", "code", "pre", "br", "span", "a", "div", "hr", "figure", "figcaption", "img",
                "button"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def tags(rendered: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(rendered)
    return parser.found


@given(texts)
def test_typed_text_keeps_only_slacks_own_markup(text: str) -> None:
    sent = typed_text(WORKSPACE, text, with_names=True)
    assert "<" not in SLACK_MARKUP.sub("", sent) and ">" not in SLACK_MARKUP.sub("", sent)


@given(texts)
def test_mrkdwn_never_makes_markup_of_its_text(text: str) -> None:
    for tag, attrs in tags(mrkdwn(text, NAMES)):
        assert tag in ALLOWED_TAGS, tag
        assert not any(name.startswith("on") for name in attrs), attrs
        assert not str(attrs.get("href") or "#").lower().startswith("javascript"), attrs


@given(texts, texts)
def test_block_kit_text_never_makes_markup(header: str, field: str) -> None:
    rendered = blocks([{"type": "header", "text": {"type": "plain_text", "text": header}},
                       {"type": "section", "fields": [{"type": "mrkdwn", "text": field}],
                        "accessory": {"type": "button", "action_id": header, "value": field,
                                      "text": {"type": "plain_text", "text": field}}}], NAMES)
    for tag, attrs in tags(rendered):
        assert tag in ALLOWED_TAGS, tag
        assert not any(name.startswith("on") for name in attrs), attrs
