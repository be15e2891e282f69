"""A Web API caller that hangs up while Slack holds its call (its task cancelled as a bot stops, its own timeout) is a
dropped connection, not an error: the emulator's log says so at DEBUG, with no traceback, and it goes on serving.
A stopping bot's effects are cut short mid-call by design (bot/services/dispatcher.py, "Stopping"), and each such
call left an ERROR traceback in the sandbox's log (bench/replica_storm.py, one a run)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.catalogue import SandboxPerson
from sandbox.faults import Fault, Faults
from sandbox.slack.emulator import SlackEmulator
from tests.e2e.sandbox_helpers import eventually
from tests.sandbox.slack_env import SECRET, TOKEN

HELD_MS = 60_000  # held until the test releases it (`Faults.release_held`): never waited out
LOGGERS = ("aiohttp.server", "sandbox.slack.emulator")


@asynccontextmanager
async def served_as_the_sandbox_serves_it(faults: Faults) -> AsyncIterator[tuple[web.Server, AsyncWebClient]]:
    """The emulator behind aiohttp's own runner, as serve_sandbox runs it: a handler goes on when its caller hangs up
    (aiohttp's test server cancels it instead, which hides what the sandbox does)."""
    slack = SlackEmulator(people=[SandboxPerson(name="Ana Silva", email="ana.silva@example.com")],
                          channels=["incidents"], faults=faults, bot_token=TOKEN, signing_secret=SECRET,
                          clock=SettableClock(datetime.fromtimestamp(1_700_000_000, UTC), frozen=True).timestamp,
                          rate_limit_scale=0, settle_seconds=0.05, quiet_seconds=0.02)
    app = web.Application()
    slack.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    [address] = runner.addresses
    try:
        assert runner.server is not None
        yield runner.server, AsyncWebClient(token=TOKEN, base_url=f"http://127.0.0.1:{address[1]}/sandbox/slack/api/",
                                    retry_handlers=[])
    finally:
        await slack.close()
        await runner.cleanup()


async def test_a_caller_gone_while_its_call_is_held_is_no_error_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    faults = Faults()
    async with served_as_the_sandbox_serves_it(faults) as (server, client):
        faults.add(Fault("slack", "chat.postMessage", times=0, latency_ms=HELD_MS))
        posting = asyncio.create_task(client.chat_postMessage(channel="incidents", text="Basket is empty"))
        await eventually(lambda: faults.held["slack"] == 1)
        posting.cancel()  # the caller hangs up mid-call, closing its connection
        with contextlib.suppress(asyncio.CancelledError):
            await posting
        # The emulator's server has seen the connection go (its handler, held, is still under way).
        await eventually(lambda: all(handler.transport is None for handler in server.connections))
        faults.release_held("slack")  # Slack gets to the call: its caller is gone
        await eventually(lambda: any(r.name in LOGGERS for r in caplog.records))

        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        [told] = [r for r in caplog.records if r.name in LOGGERS]
        assert told.levelno == logging.DEBUG and told.exc_info is None
        assert "chat.postMessage" in told.getMessage()
        # The emulator goes on serving the next caller.
        faults.rules.clear()
        answer = await client.chat_postMessage(channel="incidents", text="Basket is back")
        assert answer["ok"]
