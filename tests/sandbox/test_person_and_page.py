"""A person in the sandbox Slack (`POST /sandbox/slack/message`, `post_as_person`) and the sandbox page's parts and
live events, over HTTP (the page in a real browser is tests/browser/)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sandbox.slack.model import SlackApiFailure
from sandbox.slack.person import post_as_person, typed_text
from sandbox.ui.blockkit import Names, mrkdwn
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, eventually, state, thread, trigger

BEN = "ben.okafor@example.com"
NAMES = Names(user=lambda u: {"U1": "Chloe Martin"}.get(u), channel=lambda c: {"C1": "team-basket"}.get(c))


async def post(running: RunningSandbox, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(running.url + path, json=body) as response:
        return response.status, await response.json()


async def test_a_person_posts_a_message_and_the_bot_gets_only_the_events_it_subscribed_to(
        sandbox: RunningSandbox) -> None:
    bot = sandbox.sandbox.slack.bot
    status, body = await post(sandbox, "/sandbox/slack/message",
                              {"user": BEN, "channel": "team-basket", "text": f"hey @{bot.name} help & thanks"})
    assert status == 200, body
    ben = sandbox.sandbox.slack.resolve_user(BEN)
    assert ben is not None
    assert body["message"]["text"] == f"hey <@{bot.id}> help &amp; thanks"
    # The manifest subscribes to app_mention and member_joined_channel (Ben joined by posting), not message.channels.
    assert body["events"] == [{"type": "member_joined_channel", "status": 200}, {"type": "app_mention", "status": 200}]
    posted = [m for m in state(sandbox)["slack"]["messages"] if m["ts"] == body["message"]["ts"]]
    assert posted[0]["user"] == ben.id
    await eventually(lambda: any("/incident" in m["text"] for m in thread(sandbox, body["message"]["ts"])))


async def test_a_plain_message_gives_the_bot_no_event(sandbox: RunningSandbox) -> None:
    status, body = await post(sandbox, "/sandbox/slack/message",
                              {"user": BEN, "channel": "team-basket", "text": "lunch?"})
    assert status == 200 and [e["type"] for e in body["events"]] == ["member_joined_channel"]  # (Ben joined it)
    status, body = await post(sandbox, "/sandbox/slack/message",
                              {"user": BEN, "channel": "team-basket", "text": "anyone?"})
    assert status == 200 and body["events"] == []  # a member's plain message: nothing
    ben, team = sandbox.sandbox.slack.resolve_user(BEN), sandbox.sandbox.slack.find_channel("team-basket")
    assert ben is not None and team is not None and ben.id in team.members  # joined, as Slack's "Join channel"


async def test_bad_messages_are_refused_with_slacks_errors(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    private = slack.create_channel_as("chloe.martin@example.com", "secret-plans", is_private=True)
    archived = slack.create_channel_as("chloe.martin@example.com", "old-news")
    archived.is_archived = True
    cases = [({"user": "nobody", "channel": "team-basket", "text": "x"}, 404, "user_not_found"),
             ({"user": slack.bot.id, "channel": "team-basket", "text": "x"}, 404, "user_not_found"),
             ({"user": BEN, "channel": "no-such", "text": "x"}, 404, "channel_not_found"),
             ({"user": BEN, "channel": private.name, "text": "x"}, 404, "channel_not_found"),
             ({"user": BEN, "channel": "old-news", "text": "x"}, 409, "is_archived"),
             ({"user": BEN, "channel": "team-basket", "text": "  "}, 400, "no_text"),
             ({"user": BEN, "channel": "team-basket", "text": "x" * 40_001}, 400, "msg_too_long"),
             ({"user": BEN, "channel": "team-basket", "text": "x", "thread_ts": "1.000001"}, 404, "thread_not_found")]
    for body, status, error in cases:
        assert await post(sandbox, "/sandbox/slack/message", body) == (status, {"error": error}), body
    for bad in ([1, 2], {"user": BEN, "channel": "team-basket"}):
        status, _ = await post(sandbox, "/sandbox/slack/message", bad)
        assert status == 400


def test_typed_text_escapes_and_turns_names_into_mentions(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    chloe = slack.resolve_user("chloe.martin")
    team = slack.find_channel("team-basket")
    assert chloe is not None and team is not None
    assert typed_text(slack, "page @chloe.martin. in #team-basket <b>", with_names=True) == \
        f"page <@{chloe.id}|chloe.martin>. in <#{team.id}|team-basket> &lt;b&gt;"
    assert typed_text(slack, "mail ben.okafor@example.com @nobody #nowhere", with_names=False) == \
        "mail ben.okafor@example.com @nobody #nowhere"
    try:
        post_as_person(slack, "chloe.martin", "team-basket", "")
    except SlackApiFailure as failure:
        assert failure.error == "no_text"
    else:
        raise AssertionError("an empty message was posted")


def test_mrkdwn_shows_mentions_as_names_links_and_emoji_and_escapes_everything_else() -> None:
    shown = mrkdwn("*Hi* <@U1> in <#C1> see <https://x.example/a?b=1&amp;c=2|the &lt;doc&gt;> :fire: "
                   "&lt;script&gt;alert(1)&lt;/script&gt; <javascript:alert(1)|click>", NAMES)
    assert "<strong>Hi</strong>" in shown and '<span class="mention">@Chloe Martin</span>' in shown
    assert ">#team-basket</a>" in shown and "🔥" in shown
    assert '<a href="https://x.example/a?b=1&amp;c=2" target="_blank" rel="noopener">the &lt;doc&gt;</a>' in shown
    assert "<script>" not in shown and "javascript:" not in shown.replace("&lt;javascript:", "")


async def test_the_page_shows_an_ephemeral_message_only_to_its_person(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")
    await as_user(sandbox, "command", user=BEN, channel="inc-1-checkout-returns-500s", text="status")
    channel = sandbox.sandbox.slack.find_channel("inc-1-checkout-returns-500s")
    assert channel is not None
    page = sandbox.sandbox.page
    ben = page.parts(BEN, channel.id)
    chloe = page.parts("chloe.martin@example.com", channel.id)
    assert "Only visible to you" in ben["messages"] and "Only visible to you" not in chloe["messages"]
    assert ben["placeholder"] == "Message #inc-1-checkout-returns-500s"
    default = page.parts(None, None)
    asha = sandbox.sandbox.slack.resolve_user("asha.patel@example.com")
    assert asha is not None and default["person"] == asha.id  # the first with Slack and PagerDuty
    async with aiohttp.ClientSession() as session, session.get(sandbox.url + "/") as response:
        html = await response.text()
    assert response.status == 200 and 'placeholder="Message #incidents"' in html and "Acting as" in html


async def test_the_page_hears_of_every_change_as_a_server_sent_event(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.get(sandbox.url + "/sandbox/ui/events") as events:
        assert events.headers["Content-Type"] == "text/event-stream"
        assert (await events.content.readuntil(b"\n\n")).startswith(b"event: hello")
        await post(sandbox, "/sandbox/slack/message", {"user": BEN, "channel": "team-basket", "text": "hi"})
        change = await asyncio.wait_for(events.content.readuntil(b"\n\n"), 10)
        assert change.startswith(b"event: change\ndata: ")
