"""`/incident` and the card's buttons, driven as a Slack user through the sandbox (signed like Slack does)."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import card, incident_channels, trigger


async def as_user(running: RunningSandbox, route: str, **body: Any) -> dict[str, Any]:
    running.sandbox.slack.settle_seconds = 0.2
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/{route}",
                                                                json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        return answer


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


async def test_subcommands_not_built_yet_say_so(sandbox: RunningSandbox) -> None:
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket", text="ack")
    assert answer["body"]["response_type"] == "ephemeral"
    assert "not available from Slack yet" in answer["body"]["text"]


async def test_card_buttons_answer_not_available_yet_instead_of_failing(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    pinned = card(sandbox, channel)
    for action_id in ("incident_acknowledge", "incident_resolve", "incident_page_im"):
        answer = await as_user(sandbox, "action", user="asha.patel@example.com", channel=channel["id"],
                               message_ts=pinned["ts"], action_id=action_id)
        assert answer["status"] == 200
        [reply] = answer["response_url_posts"]
        assert "not available from Slack yet" in reply["text"] and reply["response_type"] == "ephemeral"


async def test_requests_with_a_bad_slack_signature_are_refused(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/slack/events", data={"command": "/incident", "text": "help"},
            headers={"X-Slack-Signature": "v0=bad", "X-Slack-Request-Timestamp": "1"}) as response:
        assert response.status == 401
