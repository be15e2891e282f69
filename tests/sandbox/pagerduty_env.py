"""The PagerDuty emulator as its tests meet it: served on port 0 with a frozen clock, behind a check of every answer
against PagerDuty's documented responses, reached through the real `pagerduty.RestApiV2Client`.

Shared by the emulator's test modules (test_pagerduty_emulator, _admin, _schedules); their fixtures are in
conftest.py beside this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypedDict, TypeVar, Unpack

import httpx2
import pagerduty
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler, Middleware

from bot.adapters.clock import SettableClock
from sandbox.faults import Faults
from sandbox.pagerduty.emulator import PagerDutyEmulator
from sandbox.pagerduty.openapi import PagerDutyRequestValidator
from tests.sandbox.receivers import Receiver

TOKEN = "pd-token"
SECRETS = ("old-secret", "new-secret")  # two, as during a secret rotation
# The emulator's frozen clock, moved only by the tests; with microseconds, which the REST API drops and webhooks cut
# to milliseconds.
START = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)
ASHA, BEN, ERIN, FATIMA = ("asha.patel@example.com", "ben.okafor@example.com", "erin.walsh@example.com",
                           "fatima.noor@example.com")

P = ParamSpec("P")
T = TypeVar("T")


class PagerDutyReceiver(Receiver):
    """The bot's `POST /pagerduty/webhook`: every delivery signed with each of SECRETS, answered 202 unless told."""

    def events(self) -> list[dict[str, Any]]:
        return [p["event"] for p in self.payloads()]

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.events()]


def verify(secret: str, body: bytes, header: str) -> bool:
    """PagerDuty's documented check: any comma-separated `v1=` value matching HMAC-SHA256(secret, raw body)."""
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value.strip()) for value in header.split(","))


def check_signed(request: web.Request, body: bytes) -> None:
    assert all(verify(s, body, request.headers["X-PagerDuty-Signature"]) for s in SECRETS)


@dataclass
class PdSandbox:
    emulator: PagerDutyEmulator
    server: TestServer
    clock: SettableClock
    faults: Faults

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


class PdOptions(TypedDict, total=False):
    """What a test may set on the emulator (PagerDutyEmulator's keywords); the rest are the emulator's defaults."""

    validator: PagerDutyRequestValidator | None  # None: requests are not checked against the OpenAPI document
    allow_reopen: bool
    rate_limit_per_minute: int
    webhook_max_attempts: int


class MakePd(Protocol):
    """Serve a PagerDuty emulator with these options (the `pd` fixture is one with none)."""

    async def __call__(self, **options: Unpack[PdOptions]) -> PdSandbox: ...


def user_id(pd: PdSandbox, email: str) -> str:
    found = pd.emulator.account.user_by_email(email)
    assert found is not None
    return found.id


# Where PagerDuty's published spec cannot describe the real API's answers, so the response check skips them:
# it omits `nullable` on fields the API answers null (priority, resolved_at, conference_bridge, on-call start...),
# and a log entry's `channel` is a `oneOf` of schemas loose enough that every value matches several.
SPEC_RESPONSE_DEFECTS = re.compile(r": None (for not nullable|is not of type|is not valid under any)|^log_entries\.")


def response_checker(validator: PagerDutyRequestValidator, problems: list[str]) -> Middleware:
    """Middleware: every successful REST answer must match the documented response schema."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        response = await handler(request)
        prefix = "/sandbox/pagerduty/api"
        if request.path.startswith(prefix) and 200 <= response.status < 300 and isinstance(response, web.Response):
            path = request.path.removeprefix(prefix)
            assert isinstance(response.body, bytes)
            problems.extend(f"{request.method} {path}: {reason}" for reason in validator.response_errors(
                request.method, path, request.query_string, request.headers, body or None, response.status,
                response.headers, response.body) if not SPEC_RESPONSE_DEFECTS.search(reason))
        return response

    return check


class LoopbackTransport(httpx2.HTTPTransport):
    """RestApiV2Client refuses a base URL that is not https://; the test server speaks plain HTTP on loopback, so
    the client is given https://127.0.0.1:<port>/... and this transport sends the request over http instead."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http")
        return super().handle_request(request)


def rest_client(pd: PdSandbox, token: str = TOKEN) -> pagerduty.RestApiV2Client:
    base = str(pd.server.make_url("/sandbox/pagerduty/api")).replace("http://", "https://", 1)
    client = pagerduty.RestApiV2Client(token, base_url=base, transport=LoopbackTransport())
    # By default the client retries 429 forever with time.sleep: let one retry happen, quickly, then return.
    client.retry = {429: 1}
    client.sleep_timer = 0.01
    client.max_http_attempts = 2
    return client


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """The client is synchronous: run it off the event loop that serves the emulator."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def error_of(raised: pytest.ExceptionInfo[pagerduty.HttpError]) -> tuple[int, dict[str, Any]]:
    response = raised.value.response
    assert response is not None
    return response.status_code, response.json()["error"]
