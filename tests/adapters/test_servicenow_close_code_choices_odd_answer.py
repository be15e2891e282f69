"""The instance's close codes read from an answer that is JSON with a `result` but not the list of rows the Table API
gives — a proxy's or a scripted REST override's `{"result": {...}}`, rows that are null or plain text, numbers as
values — are read for what they hold, never an AttributeError: raised out of the resolve, that error made every
ticket's resolve an unexpected failure (dead after its attempts), the read being tried again at each one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.servicenow.tickets import ServiceNowTickets
from bot.app.config import ServiceNowAccess
from bot.errors import IntegrationError
from bot.metrics import Metrics


async def answering(result: object) -> AsyncIterator[ServiceNowTickets]:
    async def page(_: web.Request) -> web.Response:
        return web.json_response({"result": result})
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", page)
    server = TestServer(app)
    await server.start_server()
    tickets = ServiceNowTickets(ServiceNowAccess(str(server.make_url("")).rstrip("/"), "bot", "secret", None),
                                Metrics(), timeout=5)
    try:
        yield tickets
    finally:
        await tickets.close()
        await server.close()


@pytest.fixture
async def odd_rows() -> AsyncIterator[ServiceNowTickets]:
    async for tickets in answering([None, "Solution provided", ["x"], {"value": 7, "label": None},
                                    {"value": {"display_value": "x"}}, {"label": "no value"},
                                    {"value": "Lösung", "label": "Lösung bereitgestellt"}]):
        yield tickets


async def test_rows_that_are_not_records_are_passed_over(odd_rows: ServiceNowTickets) -> None:
    assert await odd_rows.close_code_choices() == [("7", "7"), ("Lösung", "Lösung bereitgestellt")]


@pytest.fixture(params=[{"value": "Solution provided"}, "Solution provided", 3],
                ids=lambda r: json.dumps(r))
async def not_a_list(request: pytest.FixtureRequest) -> AsyncIterator[ServiceNowTickets]:
    async for tickets in answering(request.param):
        yield tickets


async def test_a_result_that_is_not_a_list_is_not_the_table_apis_answer(not_a_list: ServiceNowTickets) -> None:
    with pytest.raises(IntegrationError) as raised:
        await not_a_list.close_code_choices()
    assert raised.value.retryable and "sys_choice" in str(raised.value)
