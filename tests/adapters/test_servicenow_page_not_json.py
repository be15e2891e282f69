"""ServiceNow answering a page instead of JSON — a hibernating instance's "wake it up" page, a single sign-on proxy's
login form, both with HTTP 200 — is ServiceNow not answering yet: an IntegrationError worth retrying that says what
came back, not an unexpected error (a traceback logged as the bot's bug, an alert naming a JSONDecodeError), and not
counted as a call that went well."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.servicenow.tickets import ServiceNowTickets
from bot.app.config import ServiceNowAccess
from bot.errors import IntegrationError
from bot.metrics import Metrics
from tests.adapters.outside_calls import outside_calls

HIBERNATING = ("<!DOCTYPE html><html><head><title>Instance Hibernating page</title></head>"
               "<body>Your instance is hibernating. Sign in to wake it up.</body></html>")


@pytest.fixture
async def hibernating() -> AsyncIterator[str]:
    """A ServiceNow instance that answers every request with its hibernation page (HTTP 200)."""
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=HIBERNATING, content_type="text/html")
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", page)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.mark.parametrize("call", ["find", "create", "get", "update", "work_notes"])
async def test_a_page_instead_of_json_is_servicenow_not_answering_yet(hibernating: str, call: str) -> None:
    metrics = Metrics()
    tickets = ServiceNowTickets(ServiceNowAccess(hibernating, "bot", "secret", None), metrics, timeout=5)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "find": lambda: tickets.find("Q1"), "create": lambda: tickets.create({"short_description": "Down"}),
        "get": lambda: tickets.get("sys-1"), "update": lambda: tickets.update("sys-1", {"work_notes": "Hi"}),
        "work_notes": lambda: tickets.work_notes("sys-1")}
    try:
        with pytest.raises(IntegrationError) as raised:
            await calls[call]()
    finally:
        await tickets.close()
    assert raised.value.retryable and raised.value.outcome_unknown
    assert "not JSON" in str(raised.value) and "Instance Hibernating page" in str(raised.value)
    assert not any(outcome == "ok" for (_, _, outcome) in outside_calls(metrics))


@pytest.fixture
async def blank() -> AsyncIterator[str]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(status=200, text="", content_type="text/html")
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", page)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.mark.parametrize("call", ["find", "work_notes", "get", "create"])
async def test_a_blank_200_is_servicenow_not_answering_yet(blank: str, call: str) -> None:
    """Found in review of session 20: an empty answer read as `{}` said "no ticket" (a second ticket was made) and
    "no notes" (a note written again); get and create raised KeyError."""
    tickets = ServiceNowTickets(ServiceNowAccess(blank, "bot", "secret", None), Metrics(), timeout=5)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "find": lambda: tickets.find("Q1"), "create": lambda: tickets.create({"short_description": "Down"}),
        "get": lambda: tickets.get("sys-1"), "work_notes": lambda: tickets.work_notes("sys-1")}
    try:
        with pytest.raises(IntegrationError) as raised:
            await calls[call]()
    finally:
        await tickets.close()
    assert raised.value.retryable
