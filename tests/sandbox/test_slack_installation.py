"""The app's installation in the sandbox Slack (sandbox/slack/installation.py): a revoked bot token is refused by
every method with Slack's `token_revoked`, an uninstalled app's with `account_inactive`, both with HTTP 200; the
events Slack sends then; a reinstall's new token; and a fault answering Slack's own JSON refusal (a 200
`invalid_auth`, as in one of Slack's outages)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.catalogue import SandboxPerson
from sandbox.faults import Fault
from tests.sandbox.slack_env import TOKEN, SlackEnv, serve_slack

ASHA = SandboxPerson(name="Asha Patel", email="asha.patel@example.com")
HELP = {"user": ASHA.email, "channel": "incidents", "text": "help"}


@pytest.fixture
async def env() -> AsyncIterator[SlackEnv]:
    clock = SettableClock(datetime.fromtimestamp(1_700_000_000, UTC), frozen=True)
    async with serve_slack([ASHA], ["incidents"], clock) as started:
        yield started


async def refusal(client: AsyncWebClient, method: str = "auth.test") -> tuple[int, str]:
    with pytest.raises(SlackApiError) as raised:
        await client.api_call(method)
    return raised.value.response.status_code, str(raised.value.response["error"])


async def events_to(env: SlackEnv) -> tuple[list[dict[str, Any]], web.AppRunner]:
    """The bot's Request URL, as a test server: the Events API envelopes Slack sends it, as they come."""
    received: list[dict[str, Any]] = []

    async def event(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=200)
    app = web.Application()
    app.router.add_post("/slack/events", event)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env.slack.bot_events_url = f"http://127.0.0.1:{port}/slack/events"
    return received, runner


async def test_a_revoked_token_is_refused_everywhere_and_the_app_told(env: SlackEnv) -> None:
    events, runner = await events_to(env)
    try:
        status, body = await env.control("revoke", {})
    finally:
        await runner.cleanup()
    assert status == 200 and body == {"events": [{"type": "tokens_revoked", "status": 200}]}
    [sent] = events
    assert sent["type"] == "event_callback"
    assert sent["event"] == {"type": "tokens_revoked", "tokens": {"bot": [env.slack.bot.id]}}
    # Every method, auth.test included, answers Slack's code with HTTP 200 (as slack_sdk sees it: ok false).
    assert await refusal(env.client) == (200, "token_revoked")
    assert await refusal(env.client, "chat.postMessage") == (200, "token_revoked")
    # The bot user is deactivated and out of its channels; people can still run the app's command.
    assert env.slack.bot.id not in env.state()["channels"][0]["members"]
    status, _ = await env.control("command", HELP)
    assert status == 200


async def test_an_uninstalled_apps_token_is_inactive_and_its_command_gone(env: SlackEnv) -> None:
    events, runner = await events_to(env)
    try:
        status, body = await env.control("uninstall", {})
        again, _ = await env.control("uninstall", {})
    finally:
        await runner.cleanup()
    assert status == 200 and [e["type"] for e in body["events"]] == ["tokens_revoked", "app_uninstalled"]
    assert again == 409
    assert [e["event"] for e in events][1] == {"type": "app_uninstalled"}
    assert await refusal(env.client) == (200, "account_inactive")
    status, answer = await env.control("command", HELP)
    assert status == 409 and "uninstalled" in answer["error"]


async def test_a_reinstall_after_a_revoke_issues_a_new_token_and_the_old_one_stays_refused(env: SlackEnv) -> None:
    status, kept = await env.control("install", {})
    assert (status, kept) == (200, {"bot_token": TOKEN})  # a reinstall of a working app keeps its token
    env.slack.bot_events_url = None  # nobody to tell: the revoke still happens
    await env.control("revoke", {})
    _, body = await env.control("install", {})
    new = AsyncWebClient(token=body["bot_token"], base_url=env.api_url(), retry_handlers=[])
    assert body["bot_token"] != TOKEN and (await new.auth_test())["user_id"] == env.slack.bot.id
    assert await refusal(env.client) == (200, "token_revoked")


async def test_a_fault_can_answer_slacks_own_json_refusal(env: SlackEnv) -> None:
    env.faults.add(Fault("slack", "auth.test", status=200, error="invalid_auth"))
    assert await refusal(env.client) == (200, "invalid_auth")
    assert (await env.client.auth_test())["ok"] is True  # spent: the token itself was never refused
