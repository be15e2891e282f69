"""The bot (re)started while Slack is slow or rate-limiting: a deploy in the middle of an outage. Who the bot is in
Slack (auth.test) is learnt when it starts, in the background (bot/adapters/slack/identity.py); no request waits for
it, none is answered with Bolt's "your installation with this app is no longer available. Please reinstall this app",
and a token Slack refuses for good is an ERROR in the log and in /readyz, saying what to do.

auth.test is held by a latency fault until the test releases it: that Slack had the bot's answer while the call was
still held is an order of events, not a timing."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.slack.person import deliver_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, channel_id, eventually, state
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
# Longer than Slack's three seconds, shorter than the bot's own Slack timeout (10 s): released by the test long
# before it would end by itself.
HELD_MS = 8000
REINSTALL = "reinstall this app"


def auth_test_held() -> Fault:
    return Fault("slack", "auth.test", times=0, latency_ms=HELD_MS)


async def help_answer(running: RunningSandbox) -> str:
    """`/incident help` as Asha types it: what the bot answered, once it did within Slack's three seconds."""
    answer: dict[str, Any] = await as_user(running, "command", user=ASHA, channel="team-basket", text="help")
    assert (answer["status"], answer.get("error")) == (200, None), answer
    body = answer["body"]
    return str(body["text"]) if isinstance(body, dict) else str(body)  # Bolt's "reinstall" comes as plain text


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
async def test_the_first_command_after_a_start_is_answered_while_auth_test_is_slow(
        start_sandbox: StartSandbox, socket_mode: bool) -> None:
    running = await start_sandbox(socket_mode=socket_mode, faults=[auth_test_held()])
    faults = running.sandbox.faults
    try:
        answer = await help_answer(running)
        # The bot asked auth.test as it started, and Slack had the answer while that call was still held.
        await eventually(lambda: faults.held["slack"] == 1)
    finally:
        faults.clear()
        faults.release_held()
    assert "/incident ack" in answer
    await eventually(lambda: running.bot.identity.known is not None)


async def test_a_rate_limited_auth_test_is_asked_once_and_never_answered_with_reinstall(
        start_sandbox: StartSandbox) -> None:
    # Slack's Retry-After is a minute: the bot's own retry waits beyond the end of the test.
    running = await start_sandbox(faults=[Fault("slack", "auth.test", status=429, times=100, retry_after=60)])
    for _ in range(3):
        answer = await help_answer(running)
        assert REINSTALL not in answer and "/incident ack" in answer
    calls = running.sandbox.slack.calls
    await eventually(lambda: calls["auth.test"] == 1)  # asked as the bot started; no request asked again
    assert (await running.bot.readiness())["slack"] == {
        "token": "checking", "last_failure": "slack: auth.test failed: ratelimited"}


async def test_who_the_bot_is_is_learnt_once_slack_answers_again(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(faults=[Fault("slack", "auth.test", status=429, times=1),
                                          Fault("slack", "auth.test", status=503, times=2)])
    assert "/incident ack" in await help_answer(running)
    await eventually(lambda: running.bot.identity.known is not None)
    bot = state(running)["slack"]["bot"]
    assert (await running.bot.readiness())["slack"] == {"token": "accepted", "bot_user_id": bot["user_id"],
                                                        "bot_id": bot["bot_id"]}
    assert running.sandbox.slack.calls["auth.test"] == 4


async def test_the_bots_own_event_is_ignored_while_its_identity_is_unknown(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(faults=[auth_test_held()])
    slack, faults = running.sandbox.slack, running.sandbox.faults
    team = channel_id(running, "team-basket")
    ts = slack.next_ts()
    try:
        # The bot's own mention of itself, as Slack would send it: answering it would be the bot talking to itself.
        delivered = await deliver_event(slack, {"type": "app_mention", "user": slack.bot.id, "bot_id": slack.bot_id,
                                                "text": f"<@{slack.bot.id}> help", "ts": ts, "channel": team,
                                                "event_ts": ts})
        assert delivered == {"type": "app_mention", "status": 200}, delivered
        await eventually(lambda: faults.held["slack"] == 1)  # handled while auth.test was still held
    finally:
        faults.clear()
        faults.release_held()
    await slack.settled()
    assert [m["text"] for m in state(running)["slack"]["messages"] if m["thread_ts"] == ts] == []


async def test_a_token_slack_refuses_is_an_error_saying_what_to_do_and_commands_are_still_answered(
        start_sandbox: StartSandbox, catalogue: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_sandbox()
    # The same app, started with a token Slack does not accept (revoked by a reinstall, or pasted wrong).
    refused = Bot(replace(running.bot.settings, slack_bot_token="xoxb-revoked-by-a-reinstall",
                          db_path=tmp_path / "refused.db"), catalogue, clock=running.bot.clock)
    with caplog.at_level(logging.ERROR, logger="bot"):
        async with TestClient(TestServer(build_web_app(refused))) as client:
            # Said as the bot starts, before any request.
            await eventually(lambda: any(r.levelno == logging.ERROR for r in caplog.records))
            running.sandbox.slack.bot_events_url = str(client.make_url("/slack/events"))
            answer = await help_answer(running)
            async with client.get("/readyz") as response:
                ready = response.status, await response.json()
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "Slack refuses SLACK_BOT_TOKEN (auth.test: invalid_auth)" in error
    assert "set it to the app's Bot User OAuth Token (xoxb-…" in error and "restart" in error
    status, body = ready
    # Said, but still ready: PagerDuty's webhooks need no Slack, and an unready bot would stop taking them.
    assert status == 200 and body["slack"]["token"] == "refused" and body["slack"]["error"] == "invalid_auth"
    assert "Bot User OAuth Token" in body["slack"]["fix"]
    assert REINSTALL not in answer and "/incident ack" in answer
