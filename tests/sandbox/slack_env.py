"""The Slack emulator as its tests meet it: served on port 0, with the real `AsyncWebClient` on its Web API and the
sandbox's control routes one call away. Shared by the Web API tests (test_slack_emulator) and the Socket Mode ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, cast

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.catalogue import SandboxPerson
from sandbox.faults import Faults
from sandbox.slack.emulator import SlackEmulator

TOKEN = "xoxb-sandbox-token"
SECRET = "sandbox-signing-secret"
APP_TOKEN = "xapp-1-A0SANDBOX-1-sandboxapptoken"


class SlackOptions(TypedDict, total=False):
    """What a test may set on the emulator (SlackEmulator's keywords); the rest are the defaults below."""

    rate_limit_scale: float  # 0 (default here): no rate limits
    settle_seconds: float  # 0.05 by default here
    ack_timeout_seconds: float
    app_token: str | None  # Socket Mode's app-level token; none by default


@dataclass
class SlackEnv:
    slack: SlackEmulator
    server: TestServer
    client: AsyncWebClient
    clock: SettableClock
    faults: Faults

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def api_url(self) -> str:
        return self.url("/sandbox/slack/api/")

    def channel_id(self, name: str) -> str:
        channel = self.slack.find_channel(name)
        assert channel is not None
        return channel.id

    def user_id(self, ref: str) -> str:
        user = self.slack.resolve_user(ref)
        assert user is not None
        return user.id

    def state(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.slack.snapshot())  # JSON, as GET /sandbox/state serves it

    def messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.state()["messages"])

    async def control(self, route: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.post(self.url(f"/sandbox/slack/{route}"),
                                                                    json=body) as response:
            return response.status, await response.json()

    async def raw(self, method: str, http_method: str = "POST", **kwargs: Any) -> tuple[aiohttp.ClientResponse,
                                                                                        Any]:
        """One Web API call as raw HTTP (`kwargs` as aiohttp takes them): the response and its JSON or text."""
        async with aiohttp.ClientSession() as session, session.request(
                http_method, self.url(f"/sandbox/slack/api/{method}"), **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response, body


@asynccontextmanager
async def serve_slack(people: Sequence[SandboxPerson], channels: Sequence[str], clock: SettableClock,
                      **options: Unpack[SlackOptions]) -> AsyncIterator[SlackEnv]:
    faults = Faults()
    options.setdefault("rate_limit_scale", 0)
    options.setdefault("settle_seconds", 0.05)
    slack = SlackEmulator(people=people, channels=channels, faults=faults, bot_token=TOKEN, signing_secret=SECRET,
                          clock=clock.timestamp, quiet_seconds=0.02, **options)
    app = web.Application()
    slack.add_routes(app)
    server = TestServer(app, port=0)
    await server.start_server()
    env = SlackEnv(slack, server, AsyncWebClient(token=TOKEN, base_url=str(server.make_url("/sandbox/slack/api/")),
                                                 retry_handlers=[]), clock, faults)
    try:
        yield env
    finally:
        await slack.close()
        await server.close()
