"""Socket Mode against the Slack emulator, driven by the real thing: a Bolt `AsyncApp` connected through Bolt's
`AsyncSocketModeHandler` (slack_sdk's aiohttp SocketModeClient), which calls `apps.connections.open` on the emulator
with the app-level token and holds the WebSocket it is given.

Every test leaves `bot_events_url` unset, so an answer can only have come back over the socket. Nothing here depends
on how fast the machine is: waits are for events (a connection registered, an ack), bounded only so that a broken
emulator fails instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Unpack

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.catalogue import SandboxPerson
from tests.sandbox.slack_env import APP_TOKEN, SECRET, TOKEN, SlackEnv, SlackOptions, serve_slack

PEOPLE = [SandboxPerson(name="Asha Patel", email="asha.patel@example.com"),
          SandboxPerson(name="Ben Okafor", email="ben.okafor@example.com")]
CARD: list[dict[str, Any]] = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*DB down*"}},
    {"type": "actions", "block_id": "actions", "elements": [
        {"type": "button", "action_id": "incident.ack", "value": "INC1",
         "text": {"type": "plain_text", "text": "Acknowledge"}}]}]
MODAL: dict[str, Any] = {
    "type": "modal", "callback_id": "resolve", "title": {"type": "plain_text", "text": "Resolve incident"},
    "submit": {"type": "plain_text", "text": "Resolve"},
    "blocks": [{"type": "input", "block_id": "notes", "label": {"type": "plain_text", "text": "Notes"},
                "element": {"type": "plain_text_input", "action_id": "text"}}]}
WAIT = 10.0  # a bound on waiting for an event, never an expectation of speed


def running(**options: Unpack[SlackOptions]) -> AbstractAsyncContextManager[SlackEnv]:
    options.setdefault("app_token", APP_TOKEN)
    return serve_slack(PEOPLE, ["incidents"], SettableClock(), **options)  # real time: sockets time out for real


@pytest.fixture
async def env() -> AsyncIterator[SlackEnv]:
    async with running() as started:
        yield started


def bolt_app(env: SlackEnv) -> AsyncApp:
    """A Bolt app whose Web API client (and so the socket client's apps.connections.open) is the emulator."""
    return AsyncApp(signing_secret=SECRET, client=env.client)


@asynccontextmanager
async def over_socket(env: SlackEnv, app: AsyncApp, *, connections: int = 1) -> AsyncIterator[AsyncSocketModeHandler]:
    """Connect `app` in Socket Mode, as the CLI does, and wait until the emulator holds `connections` sockets."""
    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        async with asyncio.timeout(WAIT):
            await env.slack.socket_mode.wait_for_connections(connections)
        yield handler
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def post_card(env: SlackEnv) -> str:
    card = await env.client.chat_postMessage(channel="incidents", text="DB down", blocks=CARD)
    return str(card["ts"])


# ----- commands, clicks and submissions come back over the socket ---------------------------------------------------


async def test_slash_command_and_button_click_are_answered_over_the_socket(env: SlackEnv) -> None:
    seen: list[dict[str, Any]] = []
    app = bolt_app(env)

    @app.command("/incident")
    async def incident(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                       request: AsyncBoltRequest) -> None:
        seen.append({"body": body, "retry": request.headers.get("x-slack-retry-num")})
        await ack("On it")
        await respond(text="Declared", response_type="in_channel")

    @app.action("incident.ack")
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        seen.append({"body": body})
        await ack()
        await respond(replace_original=True, text="Acknowledged by Asha")

    ts = await post_card(env)
    assert env.slack.bot_events_url is None  # nowhere to POST: only the socket can carry these
    async with over_socket(env, app):
        status, command = await env.control("command", {"user": "asha.patel", "channel": "incidents",
                                                        "text": "declare db down",
                                                        "headers": {"X-Slack-Retry-Num": "1"}})
        click_status, click = await env.control("action", {"user": "asha.patel", "channel": "incidents",
                                                           "message_ts": ts, "action_id": "incident.ack"})

    # Bolt acks a command's text as {"text": ...}; that payload is the bot's answer, shown to the user.
    assert status == 200 and command["status"] == 200 and command["body"] == {"text": "On it"}
    assert "error" not in command
    slash, button = seen[0]["body"], seen[1]["body"]
    assert (slash["command"], slash["text"], slash["user_id"]) == ("/incident", "declare db down",
                                                                   env.user_id("asha.patel"))
    assert slash["trigger_id"] == command["trigger_id"] and slash["response_url"] == command["response_url"]
    assert seen[0]["retry"] == ["1"]  # the retry header travels as the envelope's retry_attempt
    assert [p["text"] for p in command["response_url_posts"]] == ["Declared"]

    assert click_status == 200 and click["status"] == 200 and click["body"] is None  # ack() carried no payload
    assert button["type"] == "block_actions" and button["actions"][0]["action_id"] == "incident.ack"
    assert button["message"]["ts"] == ts
    assert click["response_url_posts"] == [{"replace_original": True, "text": "Acknowledged by Asha"}]

    messages = env.slack.snapshot()["messages"]
    assert isinstance(messages, list)
    shown = sorted((m["text"], m["ephemeral_to"]) for m in messages)
    assert shown == [("Acknowledged by Asha", None), ("Declared", None), ("On it", env.user_id("asha.patel"))]
    assert env.slack.calls["apps.connections.open"] == 1


async def test_view_submission_ack_payload_is_the_response_action(env: SlackEnv) -> None:
    trigger = env.slack.begin_interaction("command", env.slack.users[env.user_id("asha.patel")],
                                          env.slack.find_channel("incidents")).trigger_id
    view_id = (await env.client.views_open(trigger_id=trigger, view=MODAL))["view"]["id"]
    app = bolt_app(env)

    @app.view("resolve")
    async def resolve(ack: AsyncAck) -> None:
        await ack(response_action="errors", errors={"notes": "Say what fixed it"})

    async with over_socket(env, app):
        _, report = await env.control("view_submission", {"user": "asha.patel", "view_id": view_id,
                                                          "values": {"notes": {"text": "restarted"}}})
    assert report["status"] == 200
    assert report["body"] == {"response_action": "errors", "errors": {"notes": "Say what fixed it"}}
    assert report["view_outcome"] == "errors" and report["view"]["open"] is True


async def test_an_envelope_nobody_acks_times_out_like_an_unanswered_post() -> None:
    async with running(ack_timeout_seconds=0.2) as env:
        app = bolt_app(env)  # no listener for the command: Bolt sends no ack at all
        async with over_socket(env, app):
            _, report = await env.control("command", {"user": "asha.patel", "channel": "incidents", "text": "x"})
    assert report["status"] is None and report["error"] == "operation_timeout"


async def test_each_envelope_goes_to_exactly_one_of_several_connections(env: SlackEnv) -> None:
    handled: list[str] = []

    def app_named(name: str) -> AsyncApp:
        app = bolt_app(env)

        @app.command("/incident")
        async def incident(ack: AsyncAck) -> None:
            handled.append(name)
            await ack(f"from {name}")
        return app

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(over_socket(env, app_named("first")))
        await stack.enter_async_context(over_socket(env, app_named("second"), connections=2))
        reports = [(await env.control("command", {"user": "ben.okafor", "channel": "incidents", "text": "x"}))[1]
                   for _ in range(4)]
    assert len(handled) == 4  # never delivered twice, never dropped
    assert {r["body"]["text"] for r in reports} == {"from first", "from second"}  # and both sockets carry work
    assert env.slack.calls["apps.connections.open"] == 2


async def test_a_disconnect_message_makes_the_client_reconnect_and_delivery_follows(env: SlackEnv) -> None:
    app = bolt_app(env)

    @app.command("/incident")
    async def incident(ack: AsyncAck) -> None:
        await ack("still here")

    async with over_socket(env, app):
        await env.slack.socket_mode.request_reconnect()
        async with asyncio.timeout(WAIT):
            await env.slack.socket_mode.wait_until(lambda s: s.opened == 2 and s.connections == 1)
        _, report = await env.control("command", {"user": "asha.patel", "channel": "incidents", "text": "x"})
    assert report["body"] == {"text": "still here"}
    assert env.slack.calls["apps.connections.open"] == 2  # a fresh URL: tickets are single use


async def test_http_delivery_resumes_once_the_socket_is_gone(env: SlackEnv) -> None:
    async with over_socket(env, bolt_app(env)):
        assert env.slack.socket_mode.connected
    async with asyncio.timeout(WAIT):
        await env.slack.socket_mode.wait_until(lambda s: s.connections == 0)
    status, report = await env.control("command", {"user": "asha.patel", "channel": "incidents", "text": "x"})
    assert status == 409 and "bot_events_url" in report["error"]  # back to HTTP, and nobody is listening there


# ----- apps.connections.open and the WebSocket route ----------------------------------------------------------------


async def test_only_the_app_level_token_opens_a_socket(env: SlackEnv) -> None:
    async def error(client: AsyncWebClient, token: str) -> str:
        with pytest.raises(SlackApiError) as raised:
            await client.apps_connections_open(app_token=token)
        return str(raised.value.response["error"])

    assert await error(env.client, TOKEN) == "not_allowed_token_type"  # the bot token
    assert await error(env.client, "xapp-1-someone-else") == "invalid_auth"

    opened = await env.client.apps_connections_open(app_token=APP_TOKEN)
    host = env.server.make_url("/").host
    assert opened["url"].startswith(f"ws://{host}:{env.server.port}/sandbox/slack/socket?ticket=")

    # The app-level token cannot act as the bot, and a token in the form (not the header) is not read.
    app_client = AsyncWebClient(token=APP_TOKEN, base_url=env.client.base_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as raised:
        await app_client.auth_test()
    assert raised.value.response["error"] == "not_allowed_token_type"
    async with aiohttp.ClientSession() as session, session.post(
            env.url("/sandbox/slack/api/apps.connections.open"), data={"token": APP_TOKEN}) as response:
        assert await response.json() == {"ok": False, "error": "not_authed"}


async def test_an_app_without_an_app_token_has_no_socket_mode() -> None:
    async with running(app_token=None) as env:
        with pytest.raises(SlackApiError) as raised:
            await env.client.apps_connections_open(app_token=APP_TOKEN)
        assert raised.value.response["error"] == "invalid_auth"


async def test_the_socket_says_hello_and_tickets_are_single_use(env: SlackEnv) -> None:
    url = (await env.client.apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, autoping=False) as ws:
            hello = await ws.receive_json()
            assert hello["type"] == "hello" and hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": env.slack.app_id}
            await ws.ping(b"are you there")
            pong = await ws.receive()
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
        for reused in (url, env.url("/sandbox/slack/socket?ticket=made-up")):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(reused)
            assert refused.value.status == 401
