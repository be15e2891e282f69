"""The Slack emulator, driven by the real slack_sdk AsyncWebClient and by a receiver that checks Slack's signature.

Time is a frozen clock wherever Slack's rules depend on it (trigger expiry, rate limits, response URL lifetime), so no
test depends on how fast the machine is.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.catalogue import SandboxPerson
from sandbox.faults import Fault
from sandbox.slack.model import SlackApiFailure
from tests.sandbox.slack_env import SECRET, TOKEN, SlackEnv, SlackOptions, serve_slack

PEOPLE = [
    SandboxPerson(name="Asha Patel", email="asha.patel@example.com"),
    SandboxPerson(name="Ben Okafor", email="ben.okafor@example.com"),
    SandboxPerson(name="Fatima Noor", email="fatima.noor@example.com", slack=False),
]
BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*DB down*"}},
    {"type": "actions", "block_id": "actions", "elements": [
        {"type": "button", "action_id": "incident.ack", "value": "INC1",
         "text": {"type": "plain_text", "text": "Acknowledge"}, "style": "primary"},
        {"type": "button", "action_id": "incident.resolve", "value": "INC1",
         "text": {"type": "plain_text", "text": "Resolve"}}]}]
MODAL: dict[str, Any] = {"type": "modal", "callback_id": "resolve", "private_metadata": "INC1",
         "title": {"type": "plain_text", "text": "Resolve incident"},
         "submit": {"type": "plain_text", "text": "Resolve"},
         "blocks": [{"type": "input", "block_id": "notes", "label": {"type": "plain_text", "text": "Notes"},
                     "element": {"type": "plain_text_input", "action_id": "text"}},
                    {"type": "input", "block_id": "cause", "optional": True,
                     "label": {"type": "plain_text", "text": "Cause"},
                     "element": {"type": "static_select", "action_id": "pick", "options": [
                         {"text": {"type": "plain_text", "text": "Deploy"}, "value": "deploy"},
                         {"text": {"type": "plain_text", "text": "Capacity"}, "value": "capacity"}]}}]}


# The emulator's clock, frozen: time moves only when a test says.
START = datetime.fromtimestamp(1_700_000_000, UTC)


def running(**options: Unpack[SlackOptions]) -> AbstractAsyncContextManager[SlackEnv]:
    return serve_slack(PEOPLE, ["incidents", "team-payments"], SettableClock(START, frozen=True), **options)


@pytest.fixture
async def env() -> AsyncIterator[SlackEnv]:
    async with running() as started:
        yield started


async def error(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as raised:
        await call
    return str(raised.value.response["error"])


Answer = Callable[[dict[str, str], dict[str, Any] | None], Awaitable[web.Response]]


async def empty_ack(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
    return web.Response(status=200)


@dataclass
class Bot:
    """A stand-in for the bot's POST /slack/events: refuses bad signatures and records what Slack sent."""

    answer: Answer = empty_ack
    received: list[dict[str, Any]] = field(default_factory=list)
    verifier: SignatureVerifier = field(default_factory=lambda: SignatureVerifier(SECRET))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not self.verifier.is_valid(body, request.headers.get("X-Slack-Request-Timestamp"),
                                      request.headers.get("X-Slack-Signature")):
            return web.Response(status=401, text="invalid signature")
        assert request.content_type == "application/x-www-form-urlencoded"
        form = dict(parse_qsl(body, keep_blank_values=True))
        payload = json.loads(form["payload"]) if "payload" in form else None
        self.received.append({"form": form, "payload": payload, "headers": dict(request.headers)})
        return await self.answer(form, payload)


@asynccontextmanager
async def bot_listening(env: SlackEnv, bot: Bot) -> AsyncIterator[Bot]:
    app = web.Application()
    app.router.add_post("/slack/events", bot.handle)
    server = TestServer(app, port=0)
    await server.start_server()
    env.slack.bot_events_url = str(server.make_url("/slack/events"))
    try:
        yield bot
    finally:
        await server.close()


async def post_to(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


# ----- auth, transport, unknown methods -------------------------------------------------------------------------


async def test_auth_test_names_the_bot_and_bad_tokens_are_refused_with_http_200(env: SlackEnv) -> None:
    me = await env.client.auth_test()
    assert me["user_id"] == env.slack.bot.id and me["bot_id"].startswith("B") and me["team_id"].startswith("T")

    wrong = AsyncWebClient(token="xoxb-wrong", base_url=env.api_url(), retry_handlers=[])
    with pytest.raises(SlackApiError) as raised:
        await wrong.auth_test()
    assert raised.value.response.status_code == 200 and raised.value.response["error"] == "invalid_auth"

    response, body = await env.raw("auth.test")
    assert response.status == 200 and body == {"ok": False, "error": "not_authed"}
    _, body = await env.raw("auth.test", data={"token": TOKEN})
    assert body["ok"] is True
    # A JSON body cannot carry the token: Slack reads it from the Authorization header only.
    _, body = await env.raw("auth.test", json={"token": TOKEN})
    assert body["error"] == "not_authed"


async def test_unknown_method(env: SlackEnv) -> None:
    assert await error(env.client.api_call("incidents.summon")) == "unknown_method"


async def test_arguments_are_read_from_every_form_slack_sdk_sends(env: SlackEnv) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    _, in_query = await env.raw("conversations.create", params={"name": "from-query"}, headers=headers)
    _, in_form = await env.raw("conversations.create", data={"name": "from-form"}, headers=headers)
    _, in_json = await env.raw("chat.postMessage", headers=headers,
                               json={"channel": "incidents", "text": "t", "blocks": BUTTONS})
    _, blocks_as_string = await env.raw("chat.postMessage", headers=headers,
                                        data={"channel": "incidents", "text": "t", "blocks": json.dumps(BUTTONS)})
    _, by_get = await env.raw("users.lookupByEmail", "GET", params={"email": "ben.okafor@example.com"},
                              headers=headers)
    assert in_query["channel"]["name"] == "from-query" and in_form["channel"]["name"] == "from-form"
    assert in_json["message"]["blocks"] == blocks_as_string["message"]["blocks"]
    assert by_get["user"]["name"] == "ben.okafor"
    _, bad_json = await env.raw("chat.postMessage", headers={**headers, "Content-Type": "application/json"},
                                data=b"{not json")
    assert bad_json["error"] == "invalid_json"
    _, bad_type = await env.raw("chat.postMessage", headers={**headers, "Content-Type": "text/csv"}, data=b"a,b")
    assert bad_type["error"] == "invalid_post_type"


# ----- users ----------------------------------------------------------------------------------------------------


async def test_people_in_slack_are_users_with_stable_ids(env: SlackEnv) -> None:
    found = (await env.client.users_lookupByEmail(email="Asha.Patel@example.com"))["user"]
    assert re.fullmatch(r"U[A-Z0-9]{8}", found["id"])
    assert (found["name"], found["real_name"], found["profile"]["email"]) == (
        "asha.patel", "Asha Patel", "asha.patel@example.com")
    async with running() as other:
        assert other.user_id("asha.patel@example.com") == found["id"]  # same id on every start
    assert (await env.client.users_info(user=found["id"]))["user"]["name"] == "asha.patel"
    for ref in (found["id"], "asha.patel", "@asha.patel", "ASHA.PATEL@example.com"):
        resolved = env.slack.resolve_user(ref)
        assert resolved is not None and resolved.id == found["id"]
    assert env.slack.resolve_user("fatima.noor@example.com") is None


async def test_user_lookup_errors(env: SlackEnv) -> None:
    assert await error(env.client.users_lookupByEmail(email="fatima.noor@example.com")) == "users_not_found"
    assert await error(env.client.api_call("users.lookupByEmail", http_verb="GET", params={})) == "invalid_arguments"
    assert await error(env.client.users_info(user="UNOBODY00")) == "user_not_found"
    assert await error(env.client.api_call("users.info", http_verb="GET", params={})) == "user_not_found"


# ----- conversations --------------------------------------------------------------------------------------------


async def test_conversations_create_applies_slack_name_rules(env: SlackEnv) -> None:
    created = (await env.client.conversations_create(name="inc-42-db_down"))["channel"]
    assert created["is_member"] and not created["is_private"] and created["creator"] == env.slack.bot.id
    assert (await env.client.conversations_create(name="inc-43", is_private=True))["channel"]["is_private"]
    assert (await env.client.conversations_create(name="x" * 80))["ok"]

    assert await error(env.client.conversations_create(name="inc-42-db_down")) == "name_taken"
    assert await error(env.client.conversations_create(name="incidents")) == "name_taken"  # pre-existing
    for bad in ("Inc-44", "inc 44", "#inc-44", "inc.44", "inc-44-café"):
        assert await error(env.client.conversations_create(name=bad)) == "invalid_name_specials", bad
    assert await error(env.client.conversations_create(name="x" * 81)) == "invalid_name_maxlength"
    assert await error(env.client.conversations_create(name="")) == "invalid_name_required"
    assert await error(env.client.api_call("conversations.create", params={})) == "invalid_name_required"
    assert await error(env.client.conversations_create(name="--")) == "invalid_name_punctuation"


async def test_a_person_can_create_a_channel_the_bot_is_not_in(env: SlackEnv) -> None:
    asha = next(iter(env.slack.users.values()))
    assert asha.name == "asha.patel" and env.slack.bot.id not in env.slack.users
    theirs = env.slack.create_channel_as(asha.id, "inc-1-db-down")
    assert (theirs.creator, theirs.members) == (asha.id, [asha.id])
    assert await error(env.client.conversations_create(name="inc-1-db-down")) == "name_taken"
    assert await error(env.client.conversations_setTopic(channel=theirs.id, topic="x")) == "not_in_channel"
    with pytest.raises(SlackApiFailure) as refused:
        env.slack.create_channel_as("ben.okafor", "incidents")
    assert refused.value.error == "name_taken"


async def test_conversations_invite(env: SlackEnv) -> None:
    channel = (await env.client.conversations_create(name="inc-1"))["channel"]["id"]
    asha, ben = env.user_id("asha.patel"), env.user_id("ben.okafor")
    invited = await env.client.conversations_invite(channel=channel, users=[asha])
    assert asha in (await env.client.conversations_members(channel=channel))["members"]
    assert invited["channel"]["id"] == channel
    # Slack refuses with already_in_channel only when every user is already in.
    assert (await env.client.conversations_invite(channel=channel, users=[asha, ben]))["ok"]
    with pytest.raises(SlackApiError) as raised:
        await env.client.conversations_invite(channel=channel, users=f"{asha},{ben}")
    assert raised.value.response["error"] == "already_in_channel"
    assert {e["user"] for e in raised.value.response["errors"]} == {asha, ben}

    other = (await env.client.conversations_create(name="inc-2"))["channel"]["id"]
    with pytest.raises(SlackApiError) as raised:
        await env.client.conversations_invite(channel=other, users=[asha, "UNOBODY00"])
    assert raised.value.response["error"] == "user_not_found"
    assert asha not in (await env.client.conversations_members(channel=other))["members"]  # nothing half-done
    forced = await env.client.conversations_invite(channel=other, users=[asha, "UNOBODY00"], force=True)
    assert forced["errors"] == [{"user": "UNOBODY00", "ok": False, "error": "user_not_found"}]
    assert await error(env.client.conversations_invite(channel=other, users=[env.slack.bot.id])) == "cant_invite_self"
    assert await error(env.client.conversations_invite(channel="CNOTHERE00", users=[asha])) == "channel_not_found"
    assert await error(env.client.conversations_invite(channel="inc-2", users=[ben])) == "channel_not_found"
    assert await error(env.client.api_call("conversations.invite", params={"channel": other})) == "no_user"
    as_array = env.client.api_call("conversations.invite", json={"channel": other, "users": [ben]})
    assert await error(as_array) == "invalid_array_arg"  # Slack wants the comma-separated string
    await env.client.conversations_leave(channel=other)
    assert await error(env.client.conversations_invite(channel=other, users=[ben])) == "not_in_channel"
    await env.client.conversations_archive(channel=channel)
    assert await error(env.client.conversations_invite(channel=channel, users=[ben])) == "is_archived"


async def test_conversations_set_topic(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    set_topic = await env.client.conversations_setTopic(channel=channel, topic="t" * 250)
    assert set_topic["channel"]["topic"]["value"] == "t" * 250
    assert await error(env.client.conversations_setTopic(channel=channel, topic="t" * 251)) == "too_long"
    assert await error(env.client.conversations_setTopic(channel="CNOTHERE00", topic="x")) == "channel_not_found"
    await env.client.conversations_leave(channel=channel)
    assert await error(env.client.conversations_setTopic(channel=channel, topic="x")) == "not_in_channel"
    await env.client.conversations_join(channel=channel)
    await env.client.conversations_archive(channel=channel)
    assert await error(env.client.conversations_setTopic(channel=channel, topic="x")) == "is_archived"


async def test_conversations_info_list_and_members_paginate(env: SlackEnv) -> None:
    incidents = env.channel_id("incidents")
    info = (await env.client.conversations_info(channel=incidents, include_num_members=True))["channel"]
    assert (info["name"], info["num_members"], info["is_member"]) == ("incidents", 1, True)
    assert await error(env.client.conversations_info(channel="incidents")) == "channel_not_found"  # ids only
    secret = (await env.client.conversations_create(name="secret", is_private=True))["channel"]["id"]
    await env.client.conversations_create(name="old")
    await env.client.conversations_archive(channel=env.channel_id("old"))

    names, cursor = [], None
    while True:
        page = await env.client.conversations_list(limit=1, cursor=cursor)
        assert len(page["channels"]) <= 1
        names += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == ["incidents", "team-payments", "old"]
    private = await env.client.conversations_list(types="private_channel")
    assert [c["name"] for c in private["channels"]] == ["secret"]
    live = await env.client.conversations_list(types="public_channel,private_channel", exclude_archived=True)
    assert [c["name"] for c in live["channels"]] == ["incidents", "team-payments", "secret"]
    assert await error(env.client.conversations_list(cursor="bm9wZQ==")) == "invalid_cursor"
    assert await error(env.client.conversations_list(types="channels")) == "invalid_types"

    await env.client.conversations_invite(channel=secret, users=[env.user_id("asha.patel"), env.user_id("ben.okafor")])
    first = await env.client.conversations_members(channel=secret, limit=2)
    rest = await env.client.conversations_members(channel=secret, cursor=first["response_metadata"]["next_cursor"])
    assert first["members"] + rest["members"] == [env.slack.bot.id, env.user_id("asha.patel"),
                                                  env.user_id("ben.okafor")]
    assert rest["response_metadata"]["next_cursor"] == ""
    assert await error(env.client.conversations_members(channel="CNOTHERE00")) == "channel_not_found"
    # A private channel the bot has left is invisible to it.
    await env.client.conversations_leave(channel=secret)
    assert await error(env.client.conversations_info(channel=secret)) == "channel_not_found"


async def test_conversations_archive_and_join(env: SlackEnv) -> None:
    channel = env.channel_id("team-payments")
    assert (await env.client.conversations_join(channel=channel))["warning"] == "already_in_channel"
    await env.client.conversations_leave(channel=channel)
    assert (await env.client.conversations_join(channel=channel))["channel"]["is_member"]
    assert (await env.client.conversations_archive(channel=channel))["ok"]
    assert await error(env.client.conversations_archive(channel=channel)) == "already_archived"
    assert await error(env.client.conversations_join(channel=channel)) == "is_archived"
    assert await error(env.client.conversations_archive(channel="CNOTHERE00")) == "channel_not_found"
    assert await error(env.client.conversations_join(channel="CNOTHERE00")) == "channel_not_found"
    private = (await env.client.conversations_create(name="priv", is_private=True))["channel"]["id"]
    assert await error(env.client.conversations_join(channel=private)) == "method_not_supported_for_channel_type"
    snapshot = env.state()
    assert [c["is_archived"] for c in snapshot["channels"] if c["id"] == channel] == [True]


async def test_conversations_history_lists_top_level_messages_newest_first(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    first = await env.client.chat_postMessage(channel=channel, text="one",
                                              metadata={"event_type": "card", "event_payload": {"marker": "m1"}})
    await env.client.chat_postMessage(channel=channel, text="reply", thread_ts=first["ts"])
    await env.client.chat_postMessage(channel=channel, text="two")
    history = await env.client.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["two", "one"]
    assert history["messages"][1]["metadata"]["event_payload"] == {"marker": "m1"}
    newer = await env.client.conversations_history(channel=channel, oldest=first["ts"])
    assert [m["text"] for m in newer["messages"]] == ["two"] and "metadata" not in newer["messages"][0]
    bad_metadata = env.client.chat_postMessage(channel=channel, text="x", metadata={"event_type": "card"})
    assert await error(bad_metadata) == "invalid_metadata_format"


# ----- chat -----------------------------------------------------------------------------------------------------


async def test_post_message_by_id_or_name_with_unique_increasing_ts(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    posted = [await env.client.chat_postMessage(channel=ref, text=f"hello {ref}", blocks=BUTTONS)
              for ref in (channel, "incidents", "#incidents")]  # the clock does not move between these
    stamps = [p["ts"] for p in posted]
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts) for ts in stamps)
    assert stamps == sorted(set(stamps)) and len(set(stamps)) == 3
    assert {p["channel"] for p in posted} == {channel}
    message = posted[0]["message"]
    assert message["text"] == f"hello {channel}" and message["user"] == env.slack.bot.id
    assert message["blocks"][1]["elements"][0]["action_id"] == "incident.ack"
    reply = await env.client.chat_postMessage(channel=channel, text="in thread", thread_ts=stamps[0])
    assert reply["message"]["thread_ts"] == stamps[0]
    snapshot = env.messages()
    assert [m["text"] for m in snapshot][-1] == "in thread" and snapshot[-1]["thread_ts"] == stamps[0]
    assert snapshot[0]["edited"] is False and snapshot[0]["ephemeral_to"] is None


async def test_post_message_blocks_get_ids_as_slack_fills_them(env: SlackEnv) -> None:
    blocks = [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}]}]
    message = (await env.client.chat_postMessage(channel="incidents", text="t", blocks=blocks))["message"]
    assert message["blocks"][0]["block_id"] and message["blocks"][0]["elements"][0]["action_id"]


async def test_post_message_errors(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    assert await error(env.client.api_call("chat.postMessage", json={"channel": channel})) == "no_text"
    assert await error(env.client.chat_postMessage(channel="nowhere", text="x")) == "channel_not_found"
    assert await error(env.client.chat_postMessage(channel=channel, text="x" * 40_001)) == "msg_too_long"
    too_long_label = [{"type": "actions", "elements": [
        {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}]}]
    with pytest.raises(SlackApiError) as raised:
        await env.client.chat_postMessage(channel=channel, text="x", blocks=too_long_label)
    assert raised.value.response["error"] == "invalid_blocks"
    assert "json-pointer:/blocks/0/elements/0/text/text" in raised.value.response["errors"][0]
    twice = [BUTTONS[0], BUTTONS[0]]
    assert await error(env.client.chat_postMessage(channel=channel, text="x", blocks=twice)) == "invalid_blocks"
    not_json = env.client.api_call("chat.postMessage", data={"channel": channel, "text": "x", "blocks": "[{"})
    assert await error(not_json) == "invalid_blocks_format"
    await env.client.conversations_archive(channel=channel)
    assert await error(env.client.chat_postMessage(channel=channel, text="x")) == "is_archived"


async def test_post_message_needs_no_membership_in_public_channels_only(env: SlackEnv) -> None:
    public = env.channel_id("team-payments")
    await env.client.conversations_leave(channel=public)
    assert (await env.client.chat_postMessage(channel=public, text="chat:write.public"))["ok"]
    private = (await env.client.conversations_create(name="priv", is_private=True))["channel"]["id"]
    await env.client.conversations_leave(channel=private)
    assert await error(env.client.chat_postMessage(channel=private, text="x")) == "channel_not_found"


async def test_post_message_to_a_user_opens_a_direct_message(env: SlackEnv) -> None:
    asha = env.user_id("asha.patel")
    posted = await env.client.chat_postMessage(channel=asha, text="psst")
    assert posted["channel"].startswith("D")
    assert (await env.client.chat_postMessage(channel=asha, text="again"))["channel"] == posted["channel"]


async def test_chat_update_marks_the_message_edited(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    posted = await env.client.chat_postMessage(channel=channel, text="v1", blocks=BUTTONS)
    updated = await env.client.chat_update(channel=channel, ts=posted["ts"], text="v2")
    assert updated["text"] == "v2" and updated["message"]["blocks"] == posted["message"]["blocks"]
    cleared = await env.client.chat_update(channel=channel, ts=posted["ts"], text="v3", blocks=[])
    assert "blocks" not in cleared["message"]
    [message] = env.messages()
    assert (message["text"], message["edited"], message["ts"]) == ("v3", True, posted["ts"])

    assert await error(env.client.chat_update(channel=channel, ts="1.000001", text="x")) == "message_not_found"
    assert await error(env.client.chat_update(channel="CNOTHERE00", ts=posted["ts"], text="x")) == "channel_not_found"
    incidents = env.slack.find_channel("incidents")
    asha = env.slack.resolve_user("asha.patel")
    assert incidents is not None and asha is not None
    theirs = env.slack.post(incidents, "a person's message", [], user=asha.id)
    assert await error(env.client.chat_update(channel=channel, ts=theirs.ts, text="x")) == "cant_update_message"
    no_text = env.client.api_call("chat.update", json={"channel": channel, "ts": posted["ts"]})
    assert await error(no_text) == "no_text"
    await env.client.conversations_archive(channel=channel)
    assert await error(env.client.chat_update(channel=channel, ts=posted["ts"], text="x")) == "is_inactive"


async def test_post_ephemeral(env: SlackEnv) -> None:
    channel = (await env.client.conversations_create(name="inc-7"))["channel"]["id"]
    asha, ben = env.user_id("asha.patel"), env.user_id("ben.okafor")
    await env.client.conversations_invite(channel=channel, users=[asha])
    sent = await env.client.chat_postEphemeral(channel=channel, user=asha, text="only you")
    [message] = env.messages()
    assert (message["ts"], message["ephemeral_to"], message["text"]) == (sent["message_ts"], asha, "only you")
    assert await error(env.client.chat_postEphemeral(channel=channel, user=ben, text="x")) == "user_not_in_channel"
    assert await error(env.client.chat_postEphemeral(channel=channel, user="UNOBODY00", text="x")) == "user_not_found"
    assert await error(env.client.chat_postEphemeral(channel="nowhere", user=asha, text="x")) == "channel_not_found"
    # Ephemeral messages are nobody's to update or pin.
    assert await error(env.client.chat_update(channel=channel, ts=sent["message_ts"], text="x")) == "message_not_found"
    await env.client.conversations_archive(channel=channel)
    assert await error(env.client.chat_postEphemeral(channel=channel, user=asha, text="x")) == "is_archived"


async def test_get_permalink(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    posted = await env.client.chat_postMessage(channel=channel, text="x")
    link = (await env.client.chat_getPermalink(channel=channel, message_ts=posted["ts"]))["permalink"]
    assert link == f"https://pavedroad-sandbox.slack.com/archives/{channel}/p{posted['ts'].replace('.', '')}"
    assert await error(env.client.chat_getPermalink(channel=channel, message_ts="1.000001")) == "message_not_found"
    assert await error(env.client.chat_getPermalink(channel="CNOTHERE00", message_ts=posted["ts"])) == (
        "channel_not_found")


async def test_pins(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    posted = await env.client.chat_postMessage(channel=channel, text="card")
    assert (await env.client.pins_add(channel=channel, timestamp=posted["ts"]))["ok"]
    assert await error(env.client.pins_add(channel=channel, timestamp=posted["ts"])) == "already_pinned"
    assert await error(env.client.pins_add(channel=channel, timestamp="1.000001")) == "message_not_found"
    assert await error(env.client.api_call("pins.add", params={"channel": channel})) == "no_item_specified"
    assert await error(env.client.pins_add(channel="CNOTHERE00", timestamp=posted["ts"])) == "channel_not_found"
    [item] = (await env.client.pins_list(channel=channel))["items"]
    assert (item["type"], item["message"]["ts"], item["channel"]) == ("message", posted["ts"], channel)
    assert await error(env.client.pins_list(channel="CNOTHERE00")) == "channel_not_found"
    [state] = [c for c in env.state()["channels"] if c["id"] == channel]
    assert state["pins"] == [posted["ts"]]


# ----- views and trigger ids ------------------------------------------------------------------------------------


def trigger_for(env: SlackEnv, user: str = "asha.patel") -> str:
    person = env.slack.resolve_user(user)
    assert person is not None
    return env.slack.begin_interaction("command", person, env.slack.find_channel("incidents")).trigger_id


async def test_views_open_within_three_seconds_of_the_trigger(env: SlackEnv) -> None:
    trigger = trigger_for(env)
    env.clock.advance(timedelta(seconds=3.0))
    view = (await env.client.views_open(trigger_id=trigger, view=MODAL))["view"]
    assert re.fullmatch(r"V[A-Z0-9]{10}", view["id"]) and view["root_view_id"] == view["id"]
    assert (view["callback_id"], view["private_metadata"]) == ("resolve", "INC1")
    assert await error(env.client.views_open(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"

    late = trigger_for(env)
    env.clock.advance(timedelta(seconds=3.1))
    assert await error(env.client.views_open(trigger_id=late, view=MODAL)) == "expired_trigger_id"
    assert await error(env.client.views_open(trigger_id="123.456.abc", view=MODAL)) == "invalid_trigger_id"
    assert await error(env.client.api_call("views.open", json={"view": MODAL})) == "invalid_arguments"
    [stored] = env.state()["views"]
    assert stored["id"] == view["id"] and stored["open"] is True and stored["user"] == env.user_id("asha.patel")


async def test_views_are_checked_like_slack_does(env: SlackEnv) -> None:
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    with pytest.raises(SlackApiError) as raised:
        await env.client.views_open(trigger_id=trigger_for(env), view=long_title)
    assert raised.value.response["error"] == "invalid_arguments"
    assert "json-pointer:/view/title/text" in raised.value.response["response_metadata"]["messages"][0]
    no_submit = {key: value for key, value in MODAL.items() if key != "submit"}
    assert await error(env.client.views_open(trigger_id=trigger_for(env), view=no_submit)) == "invalid_arguments"


async def test_views_push_and_update(env: SlackEnv) -> None:
    root = (await env.client.views_open(trigger_id=trigger_for(env), view=MODAL))["view"]
    pushed = (await env.client.views_push(trigger_id=trigger_for(env), view=MODAL))["view"]
    assert (pushed["root_view_id"], pushed["previous_view_id"]) == (root["id"], root["id"])
    await env.client.views_push(trigger_id=trigger_for(env), view=MODAL)
    assert await error(env.client.views_push(trigger_id=trigger_for(env), view=MODAL)) == "push_limit_reached"
    async with bot_listening(env, Bot()):
        status, _ = await env.control("view_submission", {"user": "asha.patel", "view_id": root["id"],
                                                          "values": {"notes": {"text": "x"}}})
    assert status == 409  # only the top view of a stack can be submitted

    changed = {**MODAL, "title": {"type": "plain_text", "text": "Resolved"}}
    updated = (await env.client.views_update(view_id=root["id"], view=changed, hash=root["hash"]))["view"]
    assert updated["id"] == root["id"] and updated["title"]["text"] == "Resolved" and updated["hash"] != root["hash"]
    assert await error(env.client.views_update(view_id=root["id"], view=MODAL, hash=root["hash"])) == "hash_conflict"
    assert await error(env.client.views_update(view_id="VNOTHERE000", view=MODAL)) == "not_found"


# ----- rate limits and faults -----------------------------------------------------------------------------------

# With these scales each method's limit is one call a minute: the second call in the same instant is refused.
TIER_SCALES = [(m, 1 / 20) for m in ("conversations.create", "conversations.setTopic", "conversations.archive",
                                     "pins.add", "conversations.join")] + \
              [(m, 1 / 50) for m in ("conversations.invite", "chat.update", "users.lookupByEmail", "users.info",
                                     "conversations.info", "conversations.list", "conversations.members",
                                     "pins.list")] + \
              [(m, 1 / 100) for m in ("views.open", "views.update", "views.push", "chat.postEphemeral",
                                      "chat.getPermalink", "auth.test")]


@pytest.mark.parametrize(("method", "scale"), TIER_SCALES)
async def test_each_method_is_limited_per_minute_by_its_tier(method: str, scale: float) -> None:
    async with running(rate_limit_scale=scale) as env:
        try:
            await env.client.api_call(method, params={})
        except SlackApiError as refused:
            assert refused.response.status_code == 200  # the first call is answered, whatever it says
        with pytest.raises(SlackApiError) as raised:
            await env.client.api_call(method, params={})
        response = raised.value.response
        assert (response.status_code, response["error"]) == (429, "ratelimited")
        assert response.headers["Retry-After"] == "60"
        env.clock.advance(timedelta(seconds=60))
        try:
            await env.client.api_call(method, params={})
        except SlackApiError as refused:
            assert refused.response.status_code == 200


async def test_post_message_is_limited_per_channel_with_a_small_burst() -> None:
    async with running(rate_limit_scale=1) as env:
        for n in range(5):
            await env.client.chat_postMessage(channel="incidents", text=f"burst {n}")
        with pytest.raises(SlackApiError) as raised:
            await env.client.chat_postMessage(channel=env.channel_id("incidents"), text="one too many")
        assert raised.value.response.status_code == 429 and raised.value.response.headers["Retry-After"] == "1"
        assert (await env.client.chat_postMessage(channel="team-payments", text="other channel"))["ok"]
        env.clock.advance(timedelta(seconds=1))
        assert (await env.client.chat_postMessage(channel="incidents", text="after a second"))["ok"]


async def test_scaled_limits_let_fast_tests_through() -> None:
    async with running(rate_limit_scale=1000) as env:
        for n in range(30):
            await env.client.conversations_create(name=f"inc-{n}")


async def test_injected_server_error_answers_like_slacks_edge(env: SlackEnv) -> None:
    env.faults.add(Fault(service="slack", method="chat.postMessage", status=503, times=1))
    with pytest.raises(SlackApiError) as raised:
        await env.client.chat_postMessage(channel="incidents", text="x")
    assert raised.value.response.status_code == 503
    env.faults.add(Fault(service="slack", method="chat.postMessage", status=500, times=1))
    response, body = await env.raw("chat.postMessage", json={"channel": "incidents", "text": "x"},
                                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 500 and response.content_type == "text/html" and "500" in body
    env.faults.add(Fault(service="slack", method="chat.postMessage", times=0, latency_ms=1))  # slow, not failing
    assert (await env.client.chat_postMessage(channel="incidents", text="x"))["ok"]  # the fault is used up
    assert env.state()["calls"] == {"chat.postMessage": 3}


async def test_injected_rate_limit_carries_the_faults_retry_after(env: SlackEnv) -> None:
    env.faults.add(Fault(service="slack", method="*", status=429, times=1, retry_after=7))
    with pytest.raises(SlackApiError) as raised:
        await env.client.users_info(user=env.user_id("asha.patel"))
    response = raised.value.response
    assert (response.status_code, response["error"], response.headers["Retry-After"]) == (429, "ratelimited", "7")
    # A fault that also names Slack's words keeps the header: before session 20 it was answered without one, which
    # Slack never does.
    env.faults.add(Fault(service="slack", method="*", status=429, times=1, retry_after=3, error="ratelimited"))
    with pytest.raises(SlackApiError) as raised:
        await env.client.users_info(user=env.user_id("asha.patel"))
    assert raised.value.response.headers["Retry-After"] == "3"


# ----- acting as a user: commands, buttons, modals --------------------------------------------------------------


async def test_slash_command_round_trip(env: SlackEnv) -> None:
    async def answer(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
        # What the bot does while answering: open a modal with the trigger and reply through the response URL.
        await env.client.views_open(trigger_id=form["trigger_id"], view=MODAL)
        status, body = await post_to(form["response_url"], {"text": "Incident declared", "response_type": "in_channel"})
        assert (status, body) == (200, {"ok": True})
        return web.json_response({"text": "Working on it"})

    async with bot_listening(env, Bot(answer)) as bot:
        status, report = await env.control("command", {"user": "asha.patel@example.com", "channel": "#incidents",
                                                       "text": "declare db down",
                                                       "headers": {"X-Slack-Retry-Num": "1"}})
    assert status == 200 and report["status"] == 200 and report["body"] == {"text": "Working on it"}
    [received] = bot.received
    form, asha = received["form"], env.user_id("asha.patel")
    assert set(form) == {"token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
                         "command", "text", "api_app_id", "is_enterprise_install", "response_url", "trigger_id"}
    assert (form["command"], form["text"], form["user_id"], form["user_name"]) == (
        "/incident", "declare db down", asha, "asha.patel")
    assert (form["channel_id"], form["channel_name"], form["is_enterprise_install"]) == (
        env.channel_id("incidents"), "incidents", "false")
    assert received["headers"]["X-Slack-Retry-Num"] == "1"
    assert report["response_url_posts"] == [{"text": "Incident declared", "response_type": "in_channel"}]
    assert [v["callback_id"] for v in report["views_opened"]] == ["resolve"]
    assert report["trigger_id"] == form["trigger_id"]
    shown = [(m["text"], m["ephemeral_to"]) for m in env.messages()]
    assert shown == [("Incident declared", None), ("Working on it", asha)]


async def test_response_url_posts_after_the_answer_are_collected() -> None:
    async with running(settle_seconds=0.3) as env:
        import asyncio

        async def answer(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
            asyncio.get_running_loop().create_task(post_to(form["response_url"], {"text": "done later"}))
            return web.Response(status=200)

        async with bot_listening(env, Bot(answer)):
            _, report = await env.control("command", {"user": "ben.okafor", "channel": "incidents", "text": "x"})
    assert [p["text"] for p in report["response_url_posts"]] == ["done later"]


async def test_button_click_round_trip(env: SlackEnv) -> None:
    channel = env.channel_id("incidents")
    card = await env.client.chat_postMessage(channel=channel, text="DB down", blocks=BUTTONS)

    async def answer(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
        assert payload is not None
        await post_to(payload["response_url"], {"replace_original": True, "text": "Acknowledged by Asha"})
        return web.Response(status=200)

    async with bot_listening(env, Bot(answer)) as bot:
        status, report = await env.control("action", {"user": "asha.patel", "channel": "incidents",
                                                      "message_ts": card["ts"], "action_id": "incident.ack"})
    assert status == 200 and report["status"] == 200
    payload = bot.received[0]["payload"]
    asha = env.user_id("asha.patel")
    assert payload["type"] == "block_actions" and payload["user"]["id"] == asha
    assert payload["user"]["username"] == "asha.patel" and payload["team"]["id"] == env.slack.team_id
    assert payload["container"] == {"type": "message", "message_ts": card["ts"], "channel_id": channel,
                                    "is_ephemeral": False}
    assert payload["channel"] == {"id": channel, "name": "incidents"}
    assert payload["message"]["ts"] == card["ts"] and payload["message"]["blocks"] == card["message"]["blocks"]
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "incident.ack", "actions", "INC1", "button")
    assert action["text"] == {"type": "plain_text", "text": "Acknowledge"} and payload["trigger_id"]
    assert report["response_url_posts"] == [{"replace_original": True, "text": "Acknowledged by Asha"}]
    [message] = env.messages()
    assert (message["ts"], message["text"], message["blocks"]) == (card["ts"], "Acknowledged by Asha", [])


async def test_control_routes_say_what_is_missing(env: SlackEnv) -> None:
    card = await env.client.chat_postMessage(channel="incidents", text="DB down", blocks=BUTTONS)
    click = {"user": "asha.patel", "channel": "incidents", "message_ts": card["ts"], "action_id": "incident.ack"}
    assert (await env.control("action", click))[0] == 409  # nobody listening yet
    async with bot_listening(env, Bot()):
        assert (await env.control("action", {**click, "action_id": "nope"}))[0] == 404
        assert (await env.control("action", {**click, "value": "INC2"}))[0] == 404
        assert (await env.control("action", {**click, "message_ts": "1.000001"}))[0] == 404
        assert (await env.control("action", {**click, "user": "nobody"}))[0] == 404
        assert (await env.control("action", {**click, "channel": "nowhere"}))[0] == 404
        assert (await env.control("command", {"user": "fatima.noor@example.com", "channel": "incidents"}))[0] == 404
        assert (await env.control("view_submission", {"user": "asha.patel", "view_id": "VNOTHERE000"}))[0] == 404


async def test_a_bot_that_fails_or_does_not_answer_is_reported(env: SlackEnv) -> None:
    async def broken(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
        return web.Response(status=500, text="boom")

    async with bot_listening(env, Bot(broken)):
        _, report = await env.control("command", {"user": "asha.patel", "channel": "incidents", "text": "x"})
    assert (report["status"], report["body"]) == (500, "boom")

    env.slack.bot_events_url = "http://127.0.0.1:9/slack/events"  # nothing listens on the discard port
    _, report = await env.control("command", {"user": "asha.patel", "channel": "incidents", "text": "x"})
    assert report["status"] is None and report["error"] == "dispatch_failed"


async def test_the_bot_has_three_seconds_to_answer() -> None:
    async with running(ack_timeout_seconds=0.05) as env:
        import asyncio

        never = asyncio.Event()

        async def hang(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
            await never.wait()
            return web.Response()

        async with bot_listening(env, Bot(hang)):
            _, report = await env.control("command", {"user": "asha.patel", "channel": "incidents", "text": "x"})
            never.set()
    assert report["status"] is None and report["error"] == "operation_timeout"


async def test_response_url_rules(env: SlackEnv) -> None:
    card = await env.client.chat_postMessage(channel="incidents", text="card", blocks=BUTTONS)
    urls: list[str] = []

    async def keep(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
        assert payload is not None
        urls.append(payload["response_url"])
        return web.Response()

    async with bot_listening(env, Bot(keep)):
        await env.control("action", {"user": "asha.patel", "channel": "incidents", "message_ts": card["ts"],
                                     "action_id": "incident.resolve"})
    url = urls[0]
    assert (await post_to(url, {}))[1]["error"] == "no_text"
    for n in range(3):
        assert (await post_to(url, {"text": f"note {n}"}))[0] == 200
    assert (await post_to(url, {"delete_original": True}))[0] == 200
    assert await post_to(url, {"text": "sixth"}) == (404, {"ok": False, "error": "used_url"})
    assert [m["ephemeral_to"] for m in env.messages()] == [env.user_id("asha.patel")] * 3  # the card is gone

    async with bot_listening(env, Bot(keep)):
        card = await env.client.chat_postMessage(channel="incidents", text="card", blocks=BUTTONS)
        await env.control("action", {"user": "asha.patel", "channel": "incidents", "message_ts": card["ts"],
                                     "action_id": "incident.ack"})
    env.clock.advance(timedelta(seconds=30 * 60 + 1))
    assert await post_to(urls[1], {"text": "late"}) == (404, {"ok": False, "error": "expired_url"})


async def open_modal(env: SlackEnv) -> str:
    view = (await env.client.views_open(trigger_id=trigger_for(env), view=MODAL))["view"]
    return str(view["id"])


async def test_view_submission_round_trip_with_errors_then_close(env: SlackEnv) -> None:
    view_id = await open_modal(env)
    answers = [web.json_response({"response_action": "errors", "errors": {"notes": "Say what fixed it"}}),
               web.Response(status=200)]

    async def answer(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
        return answers.pop(0)

    async with bot_listening(env, Bot(answer)) as bot:
        submit = {"user": "asha.patel", "view_id": view_id,
                  "values": {"notes": {"text": "restarted"}, "cause": {"pick": "deploy"}}}
        _, first = await env.control("view_submission", submit)
        _, second = await env.control("view_submission", submit)
    payload = bot.received[0]["payload"]
    assert payload["type"] == "view_submission" and payload["user"]["id"] == env.user_id("asha.patel")
    assert (payload["view"]["id"], payload["view"]["callback_id"], payload["view"]["private_metadata"]) == (
        view_id, "resolve", "INC1")
    assert payload["view"]["state"]["values"] == {
        "notes": {"text": {"type": "plain_text_input", "value": "restarted"}},
        "cause": {"pick": {"type": "static_select", "selected_option": {
            "text": {"type": "plain_text", "text": "Deploy"}, "value": "deploy"}}}}
    assert first["view_outcome"] == "errors" and first["view"]["open"] is True
    assert first["view"]["errors"] == {"notes": "Say what fixed it"}
    assert second["view_outcome"] == "closed" and second["view"]["open"] is False
    assert (await env.control("view_submission", submit))[0] == 409  # a closed modal cannot be submitted


async def test_view_submission_update_and_form_rules(env: SlackEnv) -> None:
    view_id = await open_modal(env)
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Confirm"}}

    async def update(form: dict[str, str], payload: dict[str, Any] | None) -> web.Response:
        return web.json_response({"response_action": "update", "view": changed})

    async with bot_listening(env, Bot(update)):
        required = await env.control("view_submission", {"user": "asha.patel", "view_id": view_id, "values": {}})
        unknown = await env.control("view_submission", {"user": "asha.patel", "view_id": view_id,
                                                        "values": {"notes": {"text": "x"}, "other": {"a": "b"}}})
        not_an_option = await env.control("view_submission", {"user": "asha.patel", "view_id": view_id, "values": {
            "notes": {"text": "x"}, "cause": {"pick": "aliens"}}})
        someone_else = await env.control("view_submission", {"user": "ben.okafor", "view_id": view_id,
                                                             "values": {"notes": {"text": "x"}}})
        _, updated = await env.control("view_submission", {"user": "asha.patel", "view_id": view_id,
                                                           "values": {"notes": {"text": "x"}}})
    assert [required[0], unknown[0], not_an_option[0], someone_else[0]] == [422, 400, 400, 404]
    assert updated["view_outcome"] == "updated"
    assert updated["view"]["title"]["text"] == "Confirm" and updated["view"]["open"] is True


async def test_bolt_app_round_trip() -> None:
    """The real Bolt pipeline (signature check, auth.test, ack, views.open, respond) against the emulator."""
    async with running() as env:
        app = AsyncApp(token=TOKEN, signing_secret=SECRET, client=env.client)

        @app.command("/incident")
        async def incident(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                           respond: AsyncRespond) -> None:
            await ack("On it")
            await client.views_open(trigger_id=body["trigger_id"], view=MODAL)
            await respond(text="Declared", response_type="in_channel")

        async def events(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        server = TestServer(web_app, port=0)
        await server.start_server()
        env.slack.bot_events_url = str(server.make_url("/slack/events"))
        try:
            _, report = await env.control("command", {"user": "asha.patel", "channel": "incidents",
                                                      "text": "declare"})
        finally:
            await server.close()
    assert report["status"] == 200 and report["body"] == "On it"  # Bolt answers ack(text) in plain text
    assert [v["callback_id"] for v in report["views_opened"]] == ["resolve"]
    assert [p["text"] for p in report["response_url_posts"]] == ["Declared"]
    assert env.state()["calls"]["auth.test"] == 1
    asha = env.user_id("asha.patel")
    assert sorted((m["text"], m["ephemeral_to"]) for m in env.messages()) == [("Declared", None), ("On it", asha)]


async def test_snapshot_shape(env: SlackEnv) -> None:
    await env.client.chat_postMessage(channel="incidents", text="x")
    snapshot = env.state()
    assert set(snapshot) >= {"users", "channels", "messages", "views", "calls"}
    assert [u["name"] for u in snapshot["users"]] == ["asha.patel", "ben.okafor"]
    [channel] = [c for c in snapshot["channels"] if c["name"] == "incidents"]
    assert set(channel) >= {"id", "name", "topic", "is_archived", "is_private", "members", "pins", "created"}
    [message] = snapshot["messages"]
    assert set(message) >= {"channel", "ts", "text", "blocks", "thread_ts", "edited", "ephemeral_to", "user"}
    json.dumps(snapshot)  # served as JSON by GET /sandbox/state
