"""Every chat.postEphemeral and chat.postMessage the bot sends — a command's private or threaded answer
(SlackInteractions) as much as the card side's (SlackChat) — takes its token from the rate budget the replicas
share, so together they stay within Slack's limits. Against the Slack emulator, with the budget in a real store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.adapters.slack.chat import TIERS, SlackChat
from bot.adapters.slack.interactions import SlackInteractions
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import SandboxPerson
from bot.metrics import Metrics
from tests.sandbox.slack_env import TOKEN, SlackEnv, serve_slack

# A scale at which the method's bucket holds a single token: whoever takes it leaves the bucket empty.
SCALE = 0.01
EPHEMERAL_RATE = TIERS["chat.postEphemeral"] * SCALE / 60
POST_RATE = TIERS["chat.postMessage"] * SCALE / 60
UPLOAD_RATE = TIERS["files.completeUploadExternal"] * SCALE / 60


@pytest.fixture
async def budget(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "budget.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def slack() -> AsyncIterator[SlackEnv]:
    async with serve_slack([SandboxPerson(name="Asha Patel", email="asha.patel@example.com")], ["incidents"],
                           SettableClock(frozen=True)) as env:
        yield env


@pytest.fixture
async def interactions(slack: SlackEnv, budget: SqliteStore) -> AsyncIterator[SlackInteractions]:
    """As the bot builds them: on Bolt's client, with the card side's SlackChat paced from the shared budget."""
    chat = SlackChat(TOKEN, slack.api_url(), Metrics(), rate_scale=SCALE, budget=budget)
    answering = SlackInteractions(AsyncWebClient(token=TOKEN, base_url=slack.api_url(), retry_handlers=[]), chat)
    yield answering
    await answering.close()
    await chat.close()


async def test_a_commands_private_answer_takes_its_token_from_the_shared_budget(
        slack: SlackEnv, budget: SqliteStore, interactions: SlackInteractions) -> None:
    channel = slack.channel_id("incidents")
    asha = slack.user_id("asha.patel@example.com")
    await slack.client.conversations_invite(channel=channel, users=asha)
    await interactions.post_ephemeral(channel, asha, "You are not on call for this service.")
    assert [(m["text"], m["ephemeral_to"]) for m in slack.messages()] == [
        ("You are not on call for this service.", asha)]
    # The answer took the bucket's one token: a call from another replica now has to wait for the next.
    assert await budget.take_token("chat.postEphemeral", EPHEMERAL_RATE, 1.0, time.time()) > 0


async def test_a_commands_threaded_answer_takes_its_token_from_the_channels_budget(
        slack: SlackEnv, budget: SqliteStore, interactions: SlackInteractions) -> None:
    channel = slack.channel_id("incidents")
    await interactions.post_message(channel, "The status report is below.")
    assert [m["text"] for m in slack.messages()] == ["The status report is below."]
    # chat.postMessage's limit is per channel: this channel's bucket is empty, another's untouched.
    assert await budget.take_token(f"chat.postMessage:{channel}", POST_RATE, 1.0, time.time()) > 0
    assert await budget.take_token("chat.postMessage:C0OTHER", POST_RATE, 1.0, time.time()) == 0


async def test_a_commands_chart_is_uploaded_through_the_paced_path(
        slack: SlackEnv, budget: SqliteStore, interactions: SlackInteractions) -> None:
    channel = slack.channel_id("incidents")
    await interactions.upload_file(channel, b"\x89PNG chart", filename="incident-report.png", title="Incidents",
                                   comment="Incidents this quarter", alt_text="A bar chart of incidents by week")
    [shared] = slack.state()["files"]
    assert (shared["name"], shared["alt_txt"]) == ("incident-report.png", "A bar chart of incidents by week")
    assert await budget.take_token("files.completeUploadExternal", UPLOAD_RATE, 1.0, time.time()) > 0
