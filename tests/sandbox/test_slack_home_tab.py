"""The Slack emulator's `views.publish` (the App Home tab), driven by the real slack_sdk client: Slack's contract and
its errors, and the views kept per user in the state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.adapters.clock import SettableClock
from bot.catalogue import SandboxPerson
from tests.sandbox.slack_env import SlackEnv, serve_slack

PEOPLE = [SandboxPerson(name="Ben Okafor", email="ben.okafor@example.com")]
HOME: dict[str, Any] = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Hi*"}}]}


@pytest.fixture
async def env() -> AsyncIterator[SlackEnv]:
    clock = SettableClock(datetime.fromtimestamp(1_700_000_000, UTC), frozen=True)
    async with serve_slack(PEOPLE, ["incidents"], clock) as started:
        yield started


async def refused(env: SlackEnv, **args: Any) -> tuple[str, list[str]]:
    with pytest.raises(SlackApiError) as raised:
        await env.client.views_publish(**args)
    response = raised.value.response
    return str(response["error"]), list((response.get("response_metadata") or {}).get("messages") or [])


async def test_a_home_view_is_published_per_user_and_replaced_in_place(env: SlackEnv) -> None:
    ben = env.user_id("ben.okafor@example.com")
    first = (await env.client.views_publish(user_id=ben, view=HOME))["view"]
    assert first["type"] == "home" and first["blocks"][0]["text"]["text"] == "*Hi*"
    again = {**HOME, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Again*"}}]}
    second = (await env.client.views_publish(user_id=ben, view=again, hash=first["hash"]))["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    home_views = env.state()["home_views"]
    assert list(home_views) == [ben] and home_views[ben]["blocks"][0]["text"]["text"] == "*Again*"


async def test_views_publish_errors_are_slacks(env: SlackEnv) -> None:
    ben = env.user_id("ben.okafor@example.com")
    assert await refused(env, user_id="", view=HOME) == ("invalid_arguments",
                                                         ["[ERROR] missing required field: user_id"])
    assert (await refused(env, user_id="UNOBODY00", view=HOME))[0] == "invalid_arguments"
    assert (await refused(env, user_id=env.slack.bot.id, view=HOME))[0] == "invalid_arguments"
    modal = {**HOME, "type": "modal"}
    assert await refused(env, user_id=ben, view=modal) == ("invalid_arguments",
                                                           ["[ERROR] must be one of home [json-pointer:/view/type]"])
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert (await refused(env, user_id=ben, view=too_many))[0] == "invalid_arguments"
    huge = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 90}
    assert (await refused(env, user_id=ben, view=huge))[0] == "view_too_large"
    published = (await env.client.views_publish(user_id=ben, view=HOME))["view"]
    assert (await refused(env, user_id=ben, view=HOME, hash="1.stale"))[0] == "hash_conflict"
    env.slack.home.enabled = False
    assert (await refused(env, user_id=ben, view=HOME, hash=published["hash"]))[0] == "not_enabled"
