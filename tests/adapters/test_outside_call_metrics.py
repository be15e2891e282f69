"""Every outside call counts itself in `pavedroad_outside_calls_total` by service, method and outcome (the Slack
adapter's calls against the Slack emulator here): each outcome its own series, each series adding up across calls —
the counters the adapters keep per label set are the registry's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.slack.chat import SlackChat
from bot.catalogue import SandboxPerson
from bot.errors import IntegrationError
from bot.metrics import Metrics
from tests.adapters.outside_calls import outside_calls
from tests.sandbox.slack_env import TOKEN, serve_slack

START = datetime.fromtimestamp(1_700_000_000, UTC)


async def test_each_slack_call_counts_under_its_method_and_outcome() -> None:
    metrics = Metrics()
    async with serve_slack([SandboxPerson(name="Asha Patel", email="asha.patel@example.com")], ["incidents"],
                           SettableClock(START, frozen=True)) as env:
        chat = SlackChat(TOKEN, env.api_url(), metrics, rate_scale=0)
        for text in ("Checkout is down", "Checkout is back", "Still watching"):
            await chat.post_message("incidents", text)
        for _ in range(2):
            with pytest.raises(IntegrationError):
                await chat.post_message("no-such-channel", "lost")
        await chat.set_topic(env.channel_id("incidents"), "🔴 Triggered")
        await chat.close()
    assert outside_calls(metrics) == {("slack", "chat.postMessage", "ok"): 3.0,
                                      ("slack", "chat.postMessage", "channel_not_found"): 2.0,
                                      ("slack", "conversations.setTopic", "ok"): 1.0}


def test_the_kept_counter_is_the_registrys_own() -> None:
    metrics = Metrics()
    metrics.call("servicenow", "PATCH incident/{id}", "ok").inc()
    metrics.calls.labels("servicenow", "PATCH incident/{id}", "ok").inc()  # as anything else in the bot may count
    metrics.call("servicenow", "PATCH incident/{id}", "ok").inc()
    assert outside_calls(metrics) == {("servicenow", "PATCH incident/{id}", "ok"): 3.0}
