"""`/incident` and the card's buttons, driven as a Slack user through the sandbox (signed like Slack does)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    answers,
    as_user,
    channel_id,
    eventually,
    incident_channels,
    send_mention,
    settle,
    state,
    thread,
    trigger,
)
from tests.helpers import StartSandbox


async def test_help_lists_every_subcommand(sandbox: RunningSandbox) -> None:
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket", text="help")
    assert answer["status"] == 200
    text = answer["body"]["text"]
    for usage in ("/incident ack", "/incident resolve [note]", "/incident page-im [message]", "/incident help"):
        assert usage in text


async def test_unknown_subcommands_answer_with_usage(sandbox: RunningSandbox) -> None:
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket",
                           text="frobnicate ✨ now")
    assert "I don't know `/incident frobnicate`" in answer["body"]["text"]
    assert "/incident help" in answer["body"]["text"]


async def test_requests_with_a_bad_slack_signature_are_refused(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/slack/events", data={"command": "/incident", "text": "help"},
            headers={"X-Slack-Signature": "v0=bad", "X-Slack-Request-Timestamp": "1"}) as response:
        assert response.status == 401


async def mention(sandbox: RunningSandbox, event_id: str, ts: str, retry: str | None = None) -> list[dict[str, Any]]:
    """Send an app_mention event as Slack would (optionally as a retry); return the bot's replies in its thread."""
    await send_mention(sandbox, event_id, ts, retry=retry)
    # The reply is posted after the ack: wait until the thread has stopped changing.
    seen, quiet, replies = -1, 0, []
    for _ in range(100):  # bounded: at most 5 s
        if quiet >= 5:
            break
        replies = thread(sandbox, ts)
        quiet = quiet + 1 if len(replies) == seen and replies else 0
        seen = len(replies)
        await asyncio.sleep(0.05)
    return replies


async def test_a_retried_event_acts_once_and_a_retry_of_a_lost_one_is_handled(sandbox: RunningSandbox) -> None:
    assert len(await mention(sandbox, "Ev100", "1700000000.000200")) == 1
    # Slack thought the first delivery was lost and sends it again: it must not act twice.
    assert len(await mention(sandbox, "Ev100", "1700000000.000200", retry="1")) == 1
    # A retry of an event whose first delivery never reached us is handled like a first delivery.
    assert len(await mention(sandbox, "Ev200", "1700000000.000300", retry="1")) == 1


async def test_mentioning_the_bot_answers_with_usage_in_the_thread(sandbox: RunningSandbox) -> None:
    await send_mention(sandbox, "Ev1", "1700000000.000100")
    for _ in range(200):
        replies = thread(sandbox, "1700000000.000100")
        if replies:
            break
        await asyncio.sleep(0.01)
    assert replies and "/incident help" in replies[0]["text"]


async def test_socket_mode_carries_commands_and_clicks_without_the_http_endpoint(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(socket_mode=True)
    assert running.bot.settings.socket_mode
    running.sandbox.slack.bot_events_url = None  # nothing can arrive over HTTP: only the socket is left
    await trigger(running)
    [channel] = incident_channels(running)
    answer = await as_user(running, "command", user="asha.patel@example.com", channel=channel["id"], text="ack")
    assert answer["status"] == 200
    assert any("Acknowledged #1" in p["text"] for p in answer["response_url_posts"])
    incident = state(running)["pagerduty"]["incidents"][0]
    asha = next(u["id"] for u in state(running)["pagerduty"]["users"] if u["email"] == "asha.patel@example.com")
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == asha


def posted_in(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    """What everyone in the channel sees: its messages, not the answers only their asker sees."""
    cid = channel_id(running, channel)
    return [m for m in state(running)["slack"]["messages"] if m["channel"] == cid and not m["ephemeral_to"]]


@pytest.mark.parametrize("text", ["handover post", "report"])
async def test_a_command_that_posts_in_the_channel_sent_twice_at_once_posts_once(sandbox: RunningSandbox,
                                                                                 text: str) -> None:
    """A double Enter, or Slack sending the command again: the handover or the report is in the channel once, and
    the repeat is told its first is under way."""
    before = len(posted_in(sandbox, "team-payments"))
    sent = await asyncio.gather(*(as_user(sandbox, "command", user="dev.sharma@example.com",
                                          channel="team-payments", text=text) for _ in range(2)))
    await eventually(lambda: all(answers(sandbox, answer) for answer in sent), within=60)
    await settle(sandbox)
    assert len(posted_in(sandbox, "team-payments")) == before + 1
    told = sorted(answers(sandbox, answer) for answer in sent)
    assert told[0].startswith("Already on it") and told[1].startswith("Posted the"), told
