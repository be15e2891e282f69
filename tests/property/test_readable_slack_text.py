"""Whatever someone types in Slack, with whatever markup Slack wraps around it, `readable` (bot/domain/slack_text.py)
gives PagerDuty and ServiceNow plain text: it never raises, no markup is left, every mention reads as the name found
(else Slack's label, else the id), and the text between the markup arrives exactly as it was typed. Property-based."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.slack_text import mentioned_users, readable

USER_IDS = ["U1", "U2", "W3", "U0123ABCD"]


def slack_escaped(typed: str) -> str:
    """What Slack sends for typed text: its three characters escaped, nothing else."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Piece:
    slack: str  # as Slack sends it
    read: str  # as people should read it


def typed(text: str) -> Piece:
    return Piece(slack_escaped(text), text)


def mention(user: str, label: str | None, names: dict[str, str]) -> Piece:
    read = f"@{names[user]}" if names.get(user) else f"@{label or user}"
    return Piece(f"<@{user}|{slack_escaped(label)}>" if label is not None else f"<@{user}>", read)


def channel(channel_id: str, label: str | None) -> Piece:
    return Piece(f"<#{channel_id}|{label}>" if label is not None else f"<#{channel_id}>", f"#{label or channel_id}")


def link(url: str, label: str | None) -> Piece:
    slack = f"<{slack_escaped(url)}|{slack_escaped(label)}>" if label is not None else f"<{slack_escaped(url)}>"
    return Piece(slack, f"{label} ({url})" if label and label != url else url)


handles = st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True)
names = st.dictionaries(st.sampled_from(USER_IDS), st.text(max_size=30))
urls = st.builds(lambda host, path: f"https://{host}.example/{path}", st.from_regex(r"[a-z]{1,10}", fullmatch=True),
                 st.text(alphabet="abc019/?=&%#-_.~", max_size=30))
labels = st.text(alphabet=st.characters(exclude_characters="|<>"), min_size=1, max_size=20)


any_typed = st.text(max_size=40)


@st.composite
def slack_texts(draw: st.DrawFn, text: st.SearchStrategy[str] = any_typed) -> tuple[list[Piece], dict[str, str]]:
    """Typed text with Slack's markup between it, and the names the caller found for some of the people."""
    found = draw(names)
    markup = st.one_of(
        st.builds(lambda user, label: mention(user, label, found), st.sampled_from(USER_IDS), st.none() | handles),
        st.builds(channel, st.from_regex(r"C[A-Z0-9]{2,10}", fullmatch=True), st.none() | handles),
        st.builds(link, urls, st.none() | labels),
        st.sampled_from([Piece("<!here>", "@here"), Piece("<!channel>", "@channel"),
                         Piece("<!subteam^S1|@sre>", "@sre")]),
    )
    return draw(st.lists(st.one_of(st.builds(typed, text), markup), max_size=12)), found


@given(text=st.text(), found=st.dictionaries(st.text(max_size=12), st.text(max_size=12)))
def test_any_text_at_all_is_read_without_an_error(text: str, found: dict[str, str]) -> None:
    assert isinstance(readable(text, found), str)
    assert isinstance(mentioned_users(text), list)


@given(case=slack_texts())
def test_the_typed_text_arrives_as_typed_and_each_markup_in_words(case: tuple[list[Piece], dict[str, str]]) -> None:
    pieces, found = case
    assert readable("".join(p.slack for p in pieces), found) == "".join(p.read for p in pieces)


@given(case=slack_texts(st.text(alphabet=st.characters(exclude_characters="<>"), max_size=40)))
def test_no_markup_is_left(case: tuple[list[Piece], dict[str, str]]) -> None:
    # Nobody typed a "<" or ">" here, and no name holds one: any left would be Slack's markup let through.
    pieces, found = case
    found = {user: name.replace("<", "").replace(">", "") for user, name in found.items()}
    slack = "".join(p.slack for p in pieces)
    read = readable(slack, found)
    assert "<" not in read and ">" not in read
    # Every person mentioned reads as their name when one was found: no Slack user id stands in for it.
    for user in mentioned_users(slack):
        if found.get(user):
            assert f"@{found[user]}" in read
