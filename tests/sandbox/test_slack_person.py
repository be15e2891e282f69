"""The sandbox Slack's people posting and reacting (sandbox/slack/person.py), the Events API deliveries Slack sends
for them, `conversations.replies`, and reading an uploaded file back: what Slack allows, refuses and sends."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import channel_id, state

BEN, ASHA = "ben.okafor@example.com", "asha.patel@example.com"


async def control(running: RunningSandbox, route: str, **body: Any) -> tuple[int, dict[str, Any]]:
    running.sandbox.slack.settle_seconds = 0.05
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/{route}",
                                                                json=body) as response:
        return response.status, await response.json()


def client(running: RunningSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=running.sandbox.keys.slack_bot_token, base_url=f"{running.url}/sandbox/slack/api/")


async def test_a_person_posts_as_slack_stores_what_they_typed(sandbox: RunningSandbox) -> None:
    status, answer = await control(sandbox, "message", user=BEN, channel="team-basket",
                                   text="a < b & @asha.patel look, @nobody")
    # No mention of the app: nothing sent to it but Ben joining the channel (posting there joins it).
    assert status == 200 and [e["type"] for e in answer["events"]] == ["member_joined_channel"]
    [message] = [m for m in state(sandbox)["slack"]["messages"] if m["ts"] == answer["ts"]]
    asha = sandbox.sandbox.slack.resolve_user(ASHA)
    assert asha is not None
    assert message["text"] == f"a &lt; b &amp; <@{asha.id}> look, @nobody" and message["user"] != "bot"


async def test_mentioning_the_app_sends_app_mention(sandbox: RunningSandbox) -> None:
    status, answer = await control(sandbox, "message", user=BEN, channel="team-basket", text="@pavedroad help")
    assert status == 200 and [(e["type"], e["status"]) for e in answer["events"]] == [
        ("member_joined_channel", 200), ("app_mention", 200)]  # (Ben joined the channel by posting there)
    replies = [m for m in state(sandbox)["slack"]["messages"] if m["thread_ts"] == answer["ts"]]
    assert replies and "/incident" in replies[0]["text"]  # the bot answered the mention in its thread


async def test_a_reaction_is_sent_as_reaction_added_once_per_person(sandbox: RunningSandbox) -> None:
    _, posted = await control(sandbox, "message", user=BEN, channel="team-basket", text="Deploy freeze")
    status, answer = await control(sandbox, "reaction", user=ASHA, channel="team-basket", ts=posted["ts"],
                                   name=":pushpin:")
    assert status == 200 and [(e["type"], e["status"]) for e in answer["events"]] == [("reaction_added", 200)]
    [message] = [m for m in state(sandbox)["slack"]["messages"] if m["ts"] == posted["ts"]]
    assert list(message["reactions"]) == ["pushpin"]
    again, refused = await control(sandbox, "reaction", user=ASHA, channel="team-basket", ts=posted["ts"],
                                   name="pushpin")
    assert again == 409 and "already_reacted" in refused["error"]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"ts": "1.000001", "name": "pushpin"}, 404, "message_not_found"),
    ({"name": "Push Pin"}, 400, "invalid_name"),
    ({"name": ""}, 400, "invalid_name"),
])
async def test_a_reaction_slack_would_refuse_is_refused(sandbox: RunningSandbox, body: dict[str, str], status: int,
                                                        error: str) -> None:
    _, posted = await control(sandbox, "message", user=BEN, channel="team-basket", text="hello")
    answered, refused = await control(sandbox, "reaction", user=ASHA, channel="team-basket",
                                      **({"ts": posted["ts"]} | body))
    assert answered == status and error in refused["error"]


async def test_nobody_posts_or_reacts_in_an_archived_channel(sandbox: RunningSandbox) -> None:
    _, posted = await control(sandbox, "message", user=BEN, channel="team-basket", text="hello")
    sandbox.sandbox.slack.channels[channel_id(sandbox, "team-basket")].is_archived = True
    assert (await control(sandbox, "message", user=BEN, channel="team-basket", text="again"))[0] == 409
    assert (await control(sandbox, "reaction", user=ASHA, channel="team-basket", ts=posted["ts"],
                          name="pushpin"))[0] == 409


async def test_events_in_a_channel_the_app_is_not_in_are_not_sent(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    channel = slack.create_channel_as(BEN, "watercooler")
    _, posted = await control(sandbox, "message", user=BEN, channel="watercooler", text="coffee?")
    status, answer = await control(sandbox, "reaction", user=ASHA, channel=channel.id, ts=posted["ts"],
                                   name="pushpin")
    assert status == 200 and answer["events"][0]["status"] is None and "not in the channel" in \
        answer["events"][0]["skipped"]


async def test_conversations_replies_answers_a_thread_from_any_of_its_messages(sandbox: RunningSandbox) -> None:
    team = channel_id(sandbox, "team-basket")
    _, parent = await control(sandbox, "message", user=BEN, channel=team, text="parent")
    _, reply = await control(sandbox, "message", user=ASHA, channel=team, text="reply", thread_ts=parent["ts"])
    slack = client(sandbox)
    thread = await slack.conversations_replies(channel=team, ts=reply["ts"])
    assert [m["text"] for m in thread["messages"]] == ["parent", "reply"]
    only = await slack.conversations_replies(channel=team, ts=parent["ts"], oldest=reply["ts"],
                                             latest=reply["ts"], inclusive=True)
    assert [m["ts"] for m in only["messages"]] == [reply["ts"]]
    with pytest.raises(SlackApiError) as missing:
        await slack.conversations_replies(channel=team, ts="1.000001")
    assert missing.value.response["error"] == "thread_not_found"


async def test_an_uploaded_file_is_read_back_and_an_unknown_one_is_404(sandbox: RunningSandbox) -> None:
    team = channel_id(sandbox, "team-basket")
    answer = await client(sandbox).files_upload_v2(channel=team, content=b"# Review\n", filename="review.md",
                                                   title="Review")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sandbox.url}/sandbox/slack/files/{answer['file']['id']}") as found:
            assert found.status == 200 and await found.read() == b"# Review\n"
            assert found.content_type == "text/markdown"
        async with session.get(f"{sandbox.url}/sandbox/slack/files/FNOPE") as unknown:
            assert unknown.status == 404


async def test_a_mention_of_the_app_where_it_is_not_a_member_is_not_sent(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    slack.create_channel_as(BEN, "watercooler")
    status, answer = await control(sandbox, "message", user=BEN, channel="watercooler", text=f"@{slack.bot.name} help")
    assert status == 200 and [(e["type"], e["status"]) for e in answer["events"]] == [("app_mention", None)]
    assert "not in the channel" in answer["events"][0]["skipped"]
    assert not [m for m in state(sandbox)["slack"]["messages"] if m["thread_ts"] == answer["ts"]]


async def test_a_mention_in_a_direct_message_with_the_app_is_no_app_mention(sandbox: RunningSandbox) -> None:
    ben = sandbox.sandbox.slack.resolve_user(BEN)
    assert ben is not None
    dm = (await client(sandbox).chat_postMessage(channel=ben.id, text="Your shift starts at 17:30"))["channel"]
    status, answer = await control(sandbox, "message", user=BEN, channel=dm,
                                   text=f"@{sandbox.sandbox.slack.bot.name} help")
    assert status == 200 and answer["events"] == []  # message.im is not subscribed; app_mention is never sent in a DM


async def test_nobody_reacts_in_a_private_channel_they_are_not_in(sandbox: RunningSandbox) -> None:
    private = sandbox.sandbox.slack.create_channel_as(BEN, "secret-plans", is_private=True)
    _, posted = await control(sandbox, "message", user=BEN, channel=private.id, text="shh")
    assert await control(sandbox, "reaction", user=ASHA, channel=private.id, ts=posted["ts"], name="pushpin") == \
        (404, {"error": "channel_not_found"})
