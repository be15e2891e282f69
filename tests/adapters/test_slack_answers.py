"""What the Slack adapters make of answers that are not Slack's JSON: a proxy's or a load balancer's error page
(HTML, plain text), or a body that says it is JSON and is not. Each becomes the adapters' IntegrationError saying
what came back — retryable for 5xx and 429, not for a 4xx (a wrong SLACK_API_URL) — never a raw exception. Served by
a real aiohttp server standing where Slack's Web API would be; the Slack emulator's injected 5xx answer HTML too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.clock import SettableClock
from bot.adapters.slack.chat import SlackChat
from bot.adapters.slack.interactions import SlackInteractions
from bot.errors import IntegrationError
from bot.metrics import Metrics
from sandbox.faults import Fault
from tests.sandbox.slack_env import TOKEN, serve_slack


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


NGINX_502 = Answer(502, "text/html", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
ENVOY_503 = Answer(503, "text/plain", "upstream connect error or disconnect/reset before headers")
NOT_JSON_AT_ALL = Answer(502, "application/json", "<html><body>Bad Gateway</body></html>")
PLAIN_200 = Answer(200, "text/plain", "OK")
HTML_200 = Answer(200, "text/html", "<html><body>Sign in to the proxy</body></html>")
NOT_FOUND = Answer(404, "text/html", "<html><body>404 Not Found</body></html>")


@asynccontextmanager
async def answering(answer: Answer) -> AsyncIterator[str]:
    """A server that answers every Web API method with `answer`; yields its base URL."""
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(status=answer.status, text=answer.body, content_type=answer.content_type)

    app = web.Application()
    app.router.add_route("*", "/api/{method}", handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/api/"))
    finally:
        await server.close()


@pytest.mark.parametrize(("answer", "retryable"), [
    (NGINX_502, True), (ENVOY_503, True), (NOT_JSON_AT_ALL, True), (PLAIN_200, False), (HTML_200, False),
    (NOT_FOUND, False),
], ids=["html-502", "plain-503", "bad-json-502", "plain-200", "html-200", "html-404"])
async def test_an_answer_that_is_not_slacks_json_is_an_integration_error_saying_what_came_back(
        answer: Answer, retryable: bool) -> None:
    async with answering(answer) as url:
        chat = SlackChat("xoxb-t", url, Metrics(), rate_scale=0)
        interactions = SlackInteractions(AsyncWebClient(token="xoxb-t", base_url=url, retry_handlers=[]), chat)
        for call in (chat.post_message("C1", "Checkout is down"), chat.find_channel("inc-1"),
                     interactions.post_message("C1", "Checkout is down"),
                     interactions.open_modal("trigger", {"type": "modal", "blocks": []})):
            with pytest.raises(IntegrationError) as raised:
                await call
            error = raised.value
            assert (error.service, error.status, error.retryable) == ("slack", answer.status, retryable)
            assert f"Slack answered {answer.status} with {answer.content_type}" in str(error)
            assert "not JSON" in str(error) and answer.body not in str(error)  # what came back, not the page
        await interactions.close()
        await chat.close()


async def test_a_not_found_page_points_at_the_api_url() -> None:
    async with answering(NOT_FOUND) as url:
        chat = SlackChat("xoxb-t", url, Metrics(), rate_scale=0)
        with pytest.raises(IntegrationError, match="check SLACK_API_URL"):
            await chat.post_message("C1", "Checkout is down")
        await chat.close()


async def test_the_emulators_injected_bad_gateway_is_a_retryable_integration_error() -> None:
    async with serve_slack([], ["incidents"], SettableClock(frozen=True)) as env:
        env.faults.add(Fault(service="slack", method="chat.postMessage", status=502, times=1))
        chat = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0)
        with pytest.raises(IntegrationError) as raised:
            await chat.post_message("incidents", "Checkout is down")
        assert raised.value.retryable and raised.value.status == 502
        assert "Slack answered 502 with text/html, not JSON" in str(raised.value)
        assert (await chat.post_message("incidents", "Checkout is down")).ts  # the fault was one answer
        await chat.close()


async def test_a_call_finishing_after_close_leaves_no_session_open() -> None:
    """Bot.stop closes the Slack session while an effect or an answer may still be finishing: that call goes through
    a session of its own, closed after it, instead of opening a shared one nobody closes."""
    async with serve_slack([], ["incidents"], SettableClock(frozen=True)) as env:
        chat = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0)
        await chat.post_message("incidents", "Checkout is down")
        shared = chat.client.session
        assert shared is not None and not shared.closed
        await chat.close()
        assert shared.closed
        assert (await chat.post_message("incidents", "Checkout is back")).ts
        assert chat.client.session is None
