"""Who a Slack user is (users.info) is kept a while by the Slack adapter: asked once for many App Home publishes,
roles and follow-ups, asked once for callers asking at the same moment, and asked again once it is older than
`TTL_SECONDS` (a changed email shows). Failures are not kept. Against the Slack emulator, counting its calls."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.slack.chat import SlackChat
from bot.adapters.slack.users import TTL_SECONDS
from bot.catalogue import SandboxPerson
from bot.errors import IntegrationError
from bot.metrics import Metrics
from sandbox.faults import Fault
from tests.sandbox.slack_env import TOKEN, SlackEnv, serve_slack

ASHA = SandboxPerson(name="Asha Patel", email="asha.patel@example.com")


def users_info_calls(env: SlackEnv) -> int:
    return int(env.state()["calls"].get("users.info", 0))


async def test_a_users_email_and_name_are_asked_of_slack_once_until_they_are_old() -> None:
    now = [1000.0]
    async with serve_slack([ASHA], ["incidents"], SettableClock(frozen=True)) as env:
        chat = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0, clock=lambda: now[0])
        asha = env.user_id("asha.patel@example.com")
        for _ in range(3):
            assert await chat.user_email(asha) == "asha.patel@example.com"
        assert await chat.user_name(asha) == "Asha Patel"
        assert users_info_calls(env) == 1
        # Her email changes in Slack: the bot sees it once what it knew is older than TTL_SECONDS, not before.
        env.slack.users[asha].email = "asha@example.com"
        now[0] += TTL_SECONDS - 1
        assert await chat.user_email(asha) == "asha.patel@example.com"
        now[0] += 2
        assert await chat.user_email(asha) == "asha@example.com"
        assert users_info_calls(env) == 2
        await chat.close()


async def test_callers_asking_at_once_share_one_call_and_a_failure_is_not_kept() -> None:
    async with serve_slack([ASHA], ["incidents"], SettableClock(frozen=True)) as env:
        chat = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0)
        asha = env.user_id("asha.patel@example.com")
        env.faults.add(Fault(service="slack", method="users.info", status=503, times=1))
        with pytest.raises(IntegrationError):
            await chat.user_email(asha)
        emails = await asyncio.gather(*(chat.user_email(asha) for _ in range(5)))
        assert emails == ["asha.patel@example.com"] * 5
        # The failed call, then one for the five callers.
        assert users_info_calls(env) == 2
        assert await chat.user_email("UNOBODY00") is None  # no such user: None, as before
        await chat.close()
