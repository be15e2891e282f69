"""PagerDuty's refusals as a gateway or proxy in front of it may word them: JSON that is not PagerDuty's error object
(a list, an `error` that is a string) and a `ratelimit-reset` that is not a number. Each becomes the IntegrationError
its status says (retried for a 429 or 5xx), never an AttributeError or ValueError that the person would see as
"something went wrong" and that would make the effect dead at once. Found in review of session 21."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.errors import IntegrationError
from bot.metrics import Metrics

ANSWERS = {
    "list": (502, '["bad gateway"]', {}),
    "error-is-a-string": (503, '{"error": "upstream timed out"}', {}),
    "errors-not-a-list": (400, '{"error": {"message": "Invalid Input", "code": 2001, "errors": "status"}}', {}),
    "reset-not-a-number": (429, '{"error": {"message": "Rate Limit Exceeded", "code": 2020}}',
                           {"ratelimit-reset": "1.2.3"}),
    "reset-infinite": (429, '{"error": {"message": "Rate Limit Exceeded", "code": 2020}}', {"ratelimit-reset": "inf"}),
}


@pytest.fixture(params=sorted(ANSWERS))
async def odd_pagerduty(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    status, text, headers = ANSWERS[request.param]

    async def answer(_: web.Request) -> web.Response:
        return web.Response(status=status, text=text, content_type="application/json", headers=headers)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, port=0)
    await server.start_server()
    yield request.param, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_an_odd_error_body_is_the_error_its_status_says(odd_pagerduty: tuple[str, str]) -> None:
    name, url = odd_pagerduty
    status = ANSWERS[name][0]
    paging = PagerDutyPaging("token", url, Metrics(), timeout=5)
    try:
        with pytest.raises(IntegrationError) as raised:
            await paging.acknowledge("PINC1", "erin@example.com")
    finally:
        await paging.close()
    error = raised.value
    assert error.status == status and error.retryable == (status == 429 or status >= 500)
    assert error.retry_after is None  # no usable reset: the usual backoff
    if name == "errors-not-a-list":
        assert error.code == "2001" and "Invalid Input" in str(error)
