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


# What a ServiceNow instance (or whatever stands in front of it) answers with HTTP 200 instead of the Table API's JSON,
# and what the bot's error says of it. The empty answer was found in review of session 20: read as `{}` it said "no
# ticket" (a second ticket was made) and "no notes" (a note written again); get and create raised KeyError.
ANSWERS = {"hibernating": (HIBERNATING, "not JSON: Instance Hibernating page"), "empty": ("", "is empty"),
           "no result": ('{"error": null}', "has no result")}


@pytest.fixture(params=sorted(ANSWERS))
async def instance(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """A ServiceNow that answers every request with one of ANSWERS (HTTP 200): its URL, and what the error says."""
    text, said = ANSWERS[request.param]

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="text/html")
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", page)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), said
    await server.close()


@pytest.mark.parametrize("call", ["find", "create", "get", "update", "work_notes"])
async def test_an_answer_that_is_not_the_table_apis_is_servicenow_not_answering_yet(instance: tuple[str, str],
                                                                                    call: str) -> None:
    url, said = instance
    metrics = Metrics()
    tickets = ServiceNowTickets(ServiceNowAccess(url, "bot", "secret", None), metrics, timeout=5)
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
    assert said in str(raised.value), str(raised.value)
    assert not any(outcome == "ok" for (_, _, outcome) in outside_calls(metrics))
