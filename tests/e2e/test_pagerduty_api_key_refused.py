"""A PagerDuty REST API key PagerDuty refuses (mistyped at deploy time, or deleted by an admin) is said as the bot
starts, not at the first incident: one ERROR naming the fix, one alert in the operators' channel, /readyz's
`pagerduty` (still 200: PagerDuty's webhooks are still taken, and incident channels made). Found in session 21."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, incident_channels, messages, state
from tests.helpers import StartSandbox


async def readyz(running: RunningSandbox) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(running.url + "/readyz") as response:
        return response.status, await response.json()


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [str(m["text"]) for m in messages(running, ops["id"])]


async def test_a_refused_api_key_is_said_as_the_bot_starts(start_sandbox: StartSandbox,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.adapters.pagerduty.api_key"):
        running = await start_sandbox(faults=[Fault("pagerduty", "*", status=401, error="Unauthorized",
                                                    until=10 ** 12)])
        await eventually(lambda: any("PagerDuty refuses the bot's REST API key" in line
                                     for line in ops_lines(running)))
        status, report = await readyz(running)
        assert status == 200 and report["ready"] is True
        assert report["pagerduty"]["api_key"] == "refused" and "PAGERDUTY_API_TOKEN" in report["pagerduty"]["fix"]
        # PagerDuty's webhooks are still taken: the incident gets its channel.
        await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
        await running.sandbox.pagerduty.drain_webhooks()
        await eventually(lambda: len(incident_channels(running)) == 1)
    [error] = [r for r in caplog.records if r.name == "bot.adapters.pagerduty.api_key"]  # once
    assert error.levelname == "ERROR"
    assert "PAGERDUTY_API_TOKEN" in error.getMessage() and "API Access Keys" in error.getMessage()


async def test_an_accepted_api_key_is_said_accepted(sandbox: RunningSandbox) -> None:
    await eventually(lambda: sandbox.bot.pagerduty_key.state() == {"api_key": "accepted"})
    status, report = await readyz(sandbox)
    assert status == 200 and report["pagerduty"] == {"api_key": "accepted"}
