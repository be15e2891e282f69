"""The Slack emulator keeping Slack's contract where it once did not: a reaction names an emoji Slack knows, a modal's
inputs are submitted only within their bounds, messages are deleted (chat.delete, and an admin through the control
route) as Slack deletes them. Driven by the real slack_sdk client and the control routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.errors import SlackApiError

from bot.adapters.clock import SettableClock
from bot.catalogue import Catalogue, SandboxPerson
from sandbox.slack.emoji import is_emoji
from sandbox.world import Sandbox, SandboxSecrets
from tests.sandbox.slack_env import SlackEnv, serve_slack

PEOPLE = [SandboxPerson(name="Asha Patel", email="asha.patel@example.com"),
          SandboxPerson(name="Ben Okafor", email="ben.okafor@example.com")]
START = datetime.fromtimestamp(1_700_000_000, UTC)


@pytest.fixture
async def env() -> AsyncIterator[SlackEnv]:
    async with serve_slack(PEOPLE, ["incidents"], SettableClock(START, frozen=True)) as started:
        # The bot's events URL: answers every delivery with an empty 200 (a modal then closes).
        app = web.Application()
        app.router.add_post("/slack/events", _ok)
        server = TestServer(app, port=0)
        await server.start_server()
        started.slack.bot_events_url = str(server.make_url("/slack/events"))
        try:
            yield started
        finally:
            await server.close()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def slack_error(env: SlackEnv, method: str, **args: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        await env.client.api_call(method, json=args)
    return str(raised.value.response["error"])


async def admin_delete(env: SlackEnv, channel: str, ts: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.delete(
            env.url(f"/sandbox/slack/messages/{channel}/{ts}")) as response:
        return response.status, await response.json()


# ----- reactions name emoji Slack knows -------------------------------------------------------------------------


async def test_a_reaction_that_is_no_emoji_slack_knows_is_invalid_name(env: SlackEnv) -> None:
    posted = await env.client.chat_postMessage(channel="incidents", text="Deploy freeze")
    react = {"user": "asha.patel", "channel": "incidents", "ts": posted["ts"]}
    assert await env.control("reaction", {**react, "name": "not_an_emoji_zz"}) == (400, {"error": "invalid_name"})
    for name in ("pushpin", ":eyes:", "+1::skin-tone-3", "white_check_mark"):
        status, answer = await env.control("reaction", {**react, "name": name})
        assert status == 200, (name, answer)
    env.slack.custom_emoji.add("partyparrot")  # the workspace's own emoji
    assert (await env.control("reaction", {**react, "name": "partyparrot"}))[0] == 200
    [message] = [m for m in env.messages() if m["ts"] == posted["ts"]]
    assert list(message["reactions"]) == ["pushpin", "eyes", "+1::skin-tone-3", "white_check_mark", "partyparrot"]


async def test_the_catalogues_timeline_reaction_is_an_emoji_of_the_sandbox_workspace(catalogue: Catalogue) -> None:
    assert is_emoji(catalogue.timeline.reaction)  # pushpin: standard
    custom = catalogue.model_copy(update={"timeline": catalogue.timeline.model_copy(
        update={"reaction": "on-the-timeline"})})  # an organisation's custom emoji
    sandbox = Sandbox(custom, SandboxSecrets.from_env(), validate_openapi=False)
    try:
        assert is_emoji("on-the-timeline", sandbox.slack.custom_emoji)
        assert not is_emoji("on-the-timeline")
    finally:
        await sandbox.close()


# ----- a modal's inputs within their bounds ---------------------------------------------------------------------


def open_modal(env: SlackEnv, **elements: dict[str, Any]) -> str:
    """A modal open for Asha with one input block per element (block_id = the keyword, action_id "v")."""
    blocks = [{"type": "input", "block_id": block_id, "optional": element.pop("optional", False),
               "label": {"type": "plain_text", "text": block_id}, "element": {"action_id": "v", **element}}
              for block_id, element in elements.items()]
    view = env.slack.store_view(env.user_id("asha.patel"), {
        "type": "modal", "title": {"type": "plain_text", "text": "Form"},
        "submit": {"type": "plain_text", "text": "Send"}, "blocks": blocks})
    return view.id


async def submit(env: SlackEnv, view_id: str, **values: Any) -> tuple[int, dict[str, Any]]:
    return await env.control("view_submission", {"user": "asha.patel", "view_id": view_id,
                                                  "values": {k: {"v": v} for k, v in values.items()}})


@pytest.mark.parametrize(("element", "value", "words"), [
    ({"type": "plain_text_input", "max_length": 3000}, "x" * 3001, "at most 3000 characters"),
    ({"type": "plain_text_input"}, "x" * 3001, "at most 3000 characters"),  # Slack's own cap
    ({"type": "plain_text_input", "max_length": 20}, "x" * 21, "at most 20 characters"),
    ({"type": "plain_text_input", "min_length": 10}, "too short", "at least 10 characters"),
    ({"type": "number_input", "is_decimal_allowed": False}, "1.5", "a whole number"),
    ({"type": "number_input", "is_decimal_allowed": True}, "lots", "a number"),
    ({"type": "number_input", "is_decimal_allowed": False, "min_value": "1", "max_value": "5"}, "6", "at most"),
    ({"type": "number_input", "is_decimal_allowed": False, "min_value": "1"}, "0", "at least"),
])
async def test_an_input_out_of_its_bounds_is_not_submitted(env: SlackEnv, element: dict[str, Any], value: str,
                                                           words: str) -> None:
    view_id = open_modal(env, notes=element)
    status, answer = await submit(env, view_id, notes=value)
    assert status == 422 and "'notes'" in answer["error"] and words in answer["error"], answer
    assert env.slack.views[view_id].is_open  # nothing reached the bot


async def test_inputs_within_their_bounds_are_submitted(env: SlackEnv) -> None:
    view_id = open_modal(env, notes={"type": "plain_text_input", "min_length": 3, "max_length": 3000},
                         count={"type": "number_input", "is_decimal_allowed": False, "min_value": "1",
                                "max_value": "5"},
                         extra={"type": "plain_text_input", "min_length": 10, "optional": True})
    status, answer = await submit(env, view_id, notes="x" * 3000, count="5", extra="")
    assert status == 200 and answer["view_outcome"] == "closed", answer
    assert answer["view"]["state"]["values"]["notes"]["v"]["value"] == "x" * 3000


# ----- deleting messages ----------------------------------------------------------------------------------------


async def test_chat_delete_deletes_the_bots_own_message_and_its_pin(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    card = await env.client.chat_postMessage(channel=channel, text="the card")
    await env.client.pins_add(channel=channel, timestamp=card["ts"])
    deleted = await env.client.chat_delete(channel=channel, ts=card["ts"])
    assert (deleted["channel"], deleted["ts"]) == (channel, card["ts"])
    assert [m["ts"] for m in (await env.client.conversations_history(channel=channel))["messages"]] == []
    assert (await env.client.pins_list(channel=channel))["items"] == []
    assert await slack_error(env, "chat.update", channel=channel, ts=card["ts"], text="x") == "message_not_found"
    assert await slack_error(env, "chat.delete", channel=channel, ts=card["ts"]) == "message_not_found"


async def test_chat_delete_refuses_what_a_bot_token_may_not_delete(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    _, someone = await env.control("message", {"user": "asha.patel", "channel": channel, "text": "mine"})
    ephemeral = await env.client.chat_postEphemeral(channel=channel, user=env.user_id("asha.patel"), text="psst")
    assert await slack_error(env, "chat.delete", channel=channel, ts=someone["ts"]) == "cant_delete_message"
    assert await slack_error(env, "chat.delete", channel=channel, ts=ephemeral["message_ts"]) == "message_not_found"
    assert await slack_error(env, "chat.delete", channel="CNOTHERE00", ts=someone["ts"]) == "channel_not_found"
    assert [m["ts"] for m in env.messages() if m["ts"] == someone["ts"]] == [someone["ts"]]  # still there


async def test_a_deleted_thread_parent_leaves_a_tombstone_until_its_last_reply_goes(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    parent = await env.client.chat_postMessage(channel=channel, text="parent")
    reply = await env.client.chat_postMessage(channel=channel, text="reply", thread_ts=parent["ts"])
    await env.client.chat_delete(channel=channel, ts=parent["ts"])
    [tombstone] = (await env.client.conversations_history(channel=channel))["messages"]
    assert {k: tombstone[k] for k in ("subtype", "text", "user", "hidden", "reply_count")} == {
        "subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT", "hidden": True,
        "reply_count": 1}
    thread = (await env.client.conversations_replies(channel=channel, ts=parent["ts"]))["messages"]
    assert [m["text"] for m in thread] == ["This message was deleted.", "reply"]
    assert await slack_error(env, "chat.delete", channel=channel, ts=parent["ts"]) == "cant_delete_message"
    await env.client.chat_delete(channel=channel, ts=reply["ts"])
    assert (await env.client.conversations_history(channel=channel))["messages"] == []


async def test_an_admin_deletes_anyones_message_through_the_control_route(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    card = await env.client.chat_postMessage(channel=channel, text="the card")
    await env.client.pins_add(channel=channel, timestamp=card["ts"])
    _, asha = await env.control("message", {"user": "asha.patel", "channel": channel, "text": "hello"})
    status, answer = await admin_delete(env, "incidents", card["ts"])  # by name, as a person names it
    assert status == 200 and answer == {"channel": channel, "ts": card["ts"], "tombstone": False, "events": []}
    assert (await env.client.pins_list(channel=channel))["items"] == []
    assert await slack_error(env, "chat.update", channel=channel, ts=card["ts"], text="x") == "message_not_found"
    assert (await admin_delete(env, channel, asha["ts"]))[0] == 200
    assert env.messages() == []
    assert await admin_delete(env, channel, card["ts"]) == (404, {"error": "message_not_found"})
    assert await admin_delete(env, "no-such-channel", card["ts"]) == (404, {"error": "channel_not_found"})
