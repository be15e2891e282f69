"""The sandbox Slack's people changing a channel (sandbox/slack/channel_acts.py: inviting, unpinning, renaming) and
the events Slack sends the app for each; and a post in a channel the bot is not in, which only `chat:write.public`
allows (Slack's published catalogue lists `not_in_channel` for chat.postMessage)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack.workspace import BOT_SCOPES
from sandbox.world import RunningSandbox

BEN, ASHA = "ben.okafor@example.com", "asha.patel@example.com"


async def control(running: RunningSandbox, route: str, **body: Any) -> tuple[int, dict[str, Any]]:
    running.sandbox.slack.settle_seconds = 0.05
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/{route}",
                                                                json=body) as response:
        return response.status, await response.json()


def client(running: RunningSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=running.sandbox.keys.slack_bot_token, base_url=f"{running.url}/sandbox/slack/api/")


async def test_a_post_in_a_public_channel_the_bot_is_not_in_needs_chat_write_public(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    channel = slack.create_channel_as(BEN, "bens-corner")
    posted = await client(sandbox).chat_postMessage(channel=channel.id, text="hello")  # the manifest's scopes
    assert posted["ok"]
    slack.bot_scopes = BOT_SCOPES - {"chat:write.public"}
    with pytest.raises(SlackApiError) as refused:
        await client(sandbox).chat_postMessage(channel=channel.id, text="hello again")
    assert refused.value.response["error"] == "not_in_channel"


async def test_inviting_the_bot_back_sends_member_joined_channel(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    channel = slack.create_channel_as(BEN, "bens-corner")
    status, answer = await control(sandbox, "invite", user=BEN, channel="bens-corner", invitee="pavedroad")
    assert status == 200 and [(e["type"], e["status"]) for e in answer["events"]] == [("member_joined_channel", 200)]
    assert slack.bot.id in channel.members
    again, refused = await control(sandbox, "invite", user=BEN, channel="bens-corner", invitee="pavedroad")
    assert (again, refused["error"]) == (409, "already_in_channel")
    outside, refused = await control(sandbox, "invite", user=ASHA, channel="bens-corner", invitee=BEN)
    assert (outside, refused["error"]) == (409, "not_in_channel")  # Asha is not in it


async def test_unpinning_sends_pin_removed_to_the_channels_app(sandbox: RunningSandbox) -> None:
    posted = await client(sandbox).chat_postMessage(channel="team-basket", text="Read me first")
    await client(sandbox).pins_add(channel=posted["channel"], timestamp=posted["ts"])
    await control(sandbox, "message", user=BEN, channel="team-basket", text="joining")
    status, answer = await control(sandbox, "unpin", user=BEN, channel="team-basket", ts=posted["ts"])
    assert status == 200 and [(e["type"], e["status"]) for e in answer["events"]] == [("pin_removed", 200)]
    team = sandbox.sandbox.slack.find_channel("team-basket")
    assert team is not None and team.pins == []
    again, refused = await control(sandbox, "unpin", user=BEN, channel="team-basket", ts=posted["ts"])
    assert (again, refused["error"]) == (409, "not_pinned")


async def test_a_renamed_channel_is_found_by_its_new_name_only(sandbox: RunningSandbox) -> None:
    slack = sandbox.sandbox.slack
    await control(sandbox, "message", user=BEN, channel="team-basket", text="joining")
    taken, refused = await control(sandbox, "rename", user=BEN, channel="team-basket", name="paved-road-ops")
    assert (taken, refused["error"]) == (409, "name_taken")
    bad, refused = await control(sandbox, "rename", user=BEN, channel="team-basket", name="Team Basket")
    assert (bad, refused["error"]) == (400, "invalid_name_specials")
    status, answer = await control(sandbox, "rename", user=BEN, channel="team-basket", name="team-cart")
    assert status == 200 and [(e["type"], e["status"]) for e in answer["events"]] == [("channel_rename", 200)]
    assert slack.find_channel("team-basket") is None
    renamed = slack.find_channel("team-cart")
    assert renamed is not None and renamed.id == answer["channel"]
    # Slack keeps the names it had (conversations.list and .info: `previous_names`).
    assert renamed.to_api(slack.bot.id)["previous_names"] == ["team-basket"]
    # Not in a channel, the app hears nothing of its rename.
    slack.create_channel_as(BEN, "bens-corner")
    status, answer = await control(sandbox, "rename", user=BEN, channel="bens-corner", name="bens-den")
    assert status == 200 and answer["events"] == [{"type": "channel_rename", "status": None,
                                                   "skipped": "the app's bot user is not in the channel"}]
