"""`/incident report` through the sandbox: signed like Slack, the history read from the bot's store, the table and
the chart posted in the channel with Slack's external file upload."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.catalogue import load_catalogue, seed_catalogue_path
from bot.services.reports.synthetic import synthetic_history
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import answers, as_user, channel_id, state
from tests.helpers import StartSandbox


@pytest.fixture
async def seeded(start_sandbox: StartSandbox) -> RunningSandbox:
    """The sandbox on the seed catalogue (the example's organisation and the seed's platform), with its history."""
    running = await start_sandbox(load_catalogue(seed_catalogue_path()))
    await seed(running)
    return running


async def seed(running: RunningSandbox) -> None:
    history = synthetic_history(running.sandbox.catalogue)
    await running.bot.store.add_history(history.incidents, history.deploys, time.time())


async def posted_files(running: RunningSandbox, channel_name: str) -> list[dict[str, Any]]:
    """The messages with files in a channel, once one has arrived (the chart is drawn after the answer)."""
    channel = channel_id(running, channel_name)
    for _ in range(1200):  # bounded: at most 60 s (a cold matplotlib import builds its font cache)
        found = [m for m in state(running)["slack"]["messages"] if m["channel"] == channel and m["files"]]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


async def answered(running: RunningSandbox, answer: dict[str, Any]) -> str:
    """The bot's answer through the command's response URL, once there is one: it follows the chart, which may be
    drawn after the command's report was taken."""
    for _ in range(1200):  # bounded: at most 60 s (a cold matplotlib import builds its font cache)
        if text := answers(running, answer):
            return text
        await asyncio.sleep(0.05)
    return ""


async def test_report_posts_the_table_and_chart_in_the_channel(seeded: RunningSandbox) -> None:
    sandbox = seeded
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket",
                           text="report --by model")
    assert answer["status"] == 200
    [message] = await posted_files(sandbox, "team-basket")
    lines = message["text"].splitlines()
    assert lines[0].startswith("*Incidents by model* — asked by <@")
    assert any(line.startswith("operations     2019") and line.endswith("-170%") for line in lines)
    assert any(line.startswith("product teams  2020") and line.endswith("39%") for line in lines)
    [file] = message["files"]
    assert file["name"] == "incident-report.png" and file["mimetype"] == "image/png"
    stored = sandbox.sandbox.slack.files.files[file["id"]]
    assert stored.content is not None and stored.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "Posted the report (46 incidents) in this channel." in await answered(sandbox, answer)


async def test_a_bad_flag_is_explained_and_nothing_is_posted(sandbox: RunningSandbox) -> None:
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket",
                           text="report --by colour")
    expected = "`--by colour` is not a grouping: use one of service, team, domain, year, period, model"
    assert expected in await answered(sandbox, answer)
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="team-basket",
                           text="report --from yesterday")
    assert "`--from yesterday` is not a date" in await answered(sandbox, answer)
    assert not sandbox.sandbox.slack.files.files


async def test_a_channel_the_bot_is_not_in_gets_the_figures_privately(seeded: RunningSandbox) -> None:
    sandbox = seeded
    sandbox.sandbox.slack.create_channel_as("asha.patel@example.com", "no-bot-here")
    answer = await as_user(sandbox, "command", user="asha.patel@example.com", channel="no-bot-here",
                           text="report --by team --from 2020-01-01")
    text = await answered(sandbox, answer)
    assert "I can't post in this channel: invite me" in text
    assert any(line.startswith("payments") and line.endswith("27%") for line in text.splitlines())
