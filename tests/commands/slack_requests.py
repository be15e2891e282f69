"""Commands and button clicks sent to the bot exactly as Slack sends them (a signed form POST to /slack/events), with
any text or button value at all, and the bot's answers read from the sandbox's response URL. Unlike the sandbox's
control routes, a click here may carry a value no card holds (a forged or stale request), and nothing waits for the
whole world to go quiet: the first answer is enough."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import aiohttp

from sandbox.slack.model import Interaction
from sandbox.slack.user import escape_typed
from sandbox.world import RunningSandbox
from tests.helpers import slack_signed

SOMETHING_WENT_WRONG = "Something went wrong"
# An outside call failing with nobody to put it into words (commands/answers.py outside_failure): in a test without
# faults, the bot sent a request the emulator refused — a bug as much as "something went wrong".
NOT_FINISHED = "so this was not finished"


def went_wrong(answer: str) -> bool:
    """Whether an answer tells of a failure the bot did not explain: an error of ours, or an outside call failing."""
    return SOMETHING_WENT_WRONG in answer or NOT_FINISHED in answer


class Refused(Exception):
    """The bot refused the request at its door (bot/adapters/slack/requests.py): no listener saw it."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status}: {error}")
        self.status, self.error = status, error


async def command(running: RunningSandbox, text: str, *, user: str = "asha.patel@example.com",
                  channel: str = "team-basket") -> list[str]:
    """`/incident <text>` typed by `user` in `channel`: what the bot answered (its ack, then its response-URL posts);
    ["(a form)"] when it opened a form instead."""
    slack = running.sandbox.slack
    person, place = slack.resolve_user(user), slack.find_channel(channel)
    assert person is not None and place is not None
    interaction = slack.begin_interaction("command", person, place)
    form = {"token": slack.verification_token, "team_id": slack.team_id, "team_domain": slack.team_domain,
            "channel_id": place.id, "channel_name": place.name, "user_id": person.id, "user_name": person.name,
            "command": "/incident", "text": escape_typed(text), "api_app_id": slack.app_id,
            "is_enterprise_install": "false", "response_url": response_url(running, interaction),
            "trigger_id": interaction.trigger_id}
    return await _deliver(running, urlencode(form), interaction)


async def click(running: RunningSandbox, action_id: str, value: str, *, message_ts: str, channel: str,
                user: str = "asha.patel@example.com") -> list[str]:
    """A click on a card's button `action_id` carrying `value` (whatever the card holds), as Slack sends it.
    Raises `Refused` when the bot's door refuses it (a value with a lone surrogate is not I-JSON: 400)."""
    slack = running.sandbox.slack
    person, place = slack.resolve_user(user), slack.find_channel(channel)
    assert person is not None and place is not None
    interaction = slack.begin_interaction("block_actions", person, place, source_ts=message_ts)
    payload: dict[str, Any] = {
        "type": "block_actions", "api_app_id": slack.app_id, "token": slack.verification_token,
        "user": {"id": person.id, "username": person.name, "name": person.name, "team_id": slack.team_id},
        "team": {"id": slack.team_id, "domain": slack.team_domain}, "enterprise": None,
        "is_enterprise_install": False, "channel": {"id": place.id, "name": place.name},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": place.id, "is_ephemeral": False},
        "trigger_id": interaction.trigger_id, "response_url": response_url(running, interaction),
        "state": {"values": {}},
        "actions": [{"action_id": action_id, "block_id": "incident_actions", "type": "button", "value": value,
                     "text": {"type": "plain_text", "text": "Acknowledge"}, "action_ts": "1700000000.000001"}]}
    return await _deliver(running, urlencode({"payload": json.dumps(payload)}), interaction)


def response_url(running: RunningSandbox, interaction: Interaction) -> str:
    return f"{running.url}/sandbox/slack/response/{interaction.id}"


async def _deliver(running: RunningSandbox, body: str, interaction: Interaction, within: float = 20.0) -> list[str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} | slack_signed(
        running.sandbox.keys.slack_signing_secret, body)
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/slack/events", data=body.encode(),
                                                                headers=headers) as response:
        raw = await response.text()
        if response.status != 200:
            raise Refused(response.status, str(json.loads(raw).get("error")) if raw.startswith("{") else raw)
    acked = json.loads(raw) if raw.startswith("{") else {}
    texts = [str(acked["text"])] if acked.get("text") else []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not texts and not interaction.response_url_posts and not interaction.views_opened:
        assert loop.time() < deadline, "the bot never answered"
        await asyncio.sleep(0.01)
    texts += [str(post.get("text") or "") for post in interaction.response_url_posts]
    return texts or ["(a form)"]
