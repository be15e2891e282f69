"""Helpers for the tests of the bot's door (tests/web, tests/property): requests to its three POST routes signed as
PagerDuty, ServiceNow's business rule and Slack sign them (or sent as raw bytes, for headers no HTTP client will
write), a bot with ServiceNow configured, and the bodies each sender really sends."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.app.config import ServiceNowAccess
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from tests.helpers import WEBHOOK_SECRET, BotClient, offline_settings, quiet_clock, servicenow_signature, sign

SERVICENOW_SECRET = "test-servicenow-secret"
SLACK_SECRET = "signing"  # offline_settings' SLACK_SIGNING_SECRET


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    text: str

    @property
    def error(self) -> str:
        """The one-line reason of a 4xx/5xx answer."""
        reason: str = json.loads(self.text)["error"]
        return reason


async def post_pagerduty(client: BotClient, body: bytes, *, secret: str = WEBHOOK_SECRET,
                         headers: dict[str, str] | None = None) -> Answer:
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(secret, body), **(headers or {})})
    return Answer(response.status, await response.text())


async def post_servicenow(client: BotClient, body: bytes, *, secret: str = SERVICENOW_SECRET,
                          headers: dict[str, str] | None = None) -> Answer:
    response = await client.post("/servicenow/webhook", data=body, headers={
        "Content-Type": "application/json", "X-ServiceNow-Signature": servicenow_signature(secret, body),
        **(headers or {})})
    return Answer(response.status, await response.text())


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """X-Slack-Signature over the raw bytes (tests.helpers.slack_signed signs text; some bodies here are not)."""
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


async def post_slack(client: BotClient, body: bytes, *, content_type: str = "application/x-www-form-urlencoded",
                     secret: str = SLACK_SECRET, timestamp: str | None = None,
                     headers: dict[str, str] | None = None) -> Answer:
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    response = await client.post("/slack/events", data=body, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body), **(headers or {})})
    return Answer(response.status, await response.text())


async def post_slack_at(url: str, secret: str, body: bytes, *,
                        content_type: str = "application/x-www-form-urlencoded") -> Answer:
    """A signed request to a running bot's /slack/events (the sandbox's), as post_slack does to a test client."""
    timestamp = str(int(time.time()))
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(secret, timestamp, body)}) as response:
        return Answer(response.status, await response.text())


async def raw_post(client: BotClient, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    """POST with header values as raw bytes (a non-UTF-8 byte, as a broken or hostile client sends it)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        lines = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: door", b"Connection: close",
                 b"Content-Length: " + str(len(body)).encode(), *(name + b": " + value for name, value in headers)]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
        length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n")
                      if line.lower().startswith("content-length:"))
        text = await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    return Answer(int(head.split(" ", 2)[1]), text.decode())


@asynccontextmanager
async def servicenow_bot(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[tuple[Bot, BotClient]]:
    """The offline bot (tests/conftest.py) with ServiceNow configured (unreachable, like the rest)."""
    settings = dataclasses.replace(offline_settings(tmp_path / "servicenow-bot.db"), servicenow=ServiceNowAccess(
        "http://127.0.0.1:9", "pavedroad.integration", "password", SERVICENOW_SECRET))
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
    async with TestClient(TestServer(build_web_app(bot))) as client:
        yield bot, client


def business_rule(**changes: Any) -> dict[str, Any]:
    """What the README's business rule sends for a ticket (every field a string), with `changes`."""
    return {"table": "incident", "operation": "update", "sys_id": "abc123", "number": "INC0010001",
            "short_description": "Checkout down", "description": "", "state": "2", "impact": "1", "urgency": "1",
            "assignment_group": "Payments", "category": "software", "correlation_id": "Q1",
            "x_pd_integration_incident": "", "updated_by": "jane.agent", "updated_on": "2026-11-27 10:07:00",
            "work_notes": "", "comments": ""} | changes


# What Slack sends to the bot's Request URL (api.slack.com's payload references), one of each kind the bot handles.
SLASH_COMMAND: dict[str, str] = {
    "token": "x", "team_id": "T0SANDBOX", "team_domain": "acme", "channel_id": "C0INCIDENT",
    "channel_name": "inc-1-checkout", "user_id": "U0ASHA", "user_name": "asha", "command": "/incident",
    "text": "status", "api_app_id": "A0PAVED", "is_enterprise_install": "false",
    "response_url": "http://127.0.0.1:9/commands/1", "trigger_id": "1.2.3"}
BLOCK_ACTIONS: dict[str, Any] = {
    "type": "block_actions", "user": {"id": "U0ASHA", "username": "asha", "team_id": "T0SANDBOX"},
    "api_app_id": "A0PAVED", "token": "x", "container": {"type": "message", "message_ts": "1700000000.000100",
                                                         "channel_id": "C0INCIDENT", "is_ephemeral": False},
    "trigger_id": "1.2.3", "team": {"id": "T0SANDBOX", "domain": "acme"}, "enterprise": None,
    "is_enterprise_install": False, "channel": {"id": "C0INCIDENT", "name": "inc-1-checkout"},
    "message": {"type": "message", "user": "U0BOT", "ts": "1700000000.000100", "text": "card"},
    "response_url": "http://127.0.0.1:9/actions/1",
    "actions": [{"action_id": "incident_acknowledge", "block_id": "card-actions", "text": {"type": "plain_text",
                 "text": "Acknowledge"}, "value": "Q1", "type": "button", "action_ts": "1700000000.1"}]}
VIEW_SUBMISSION: dict[str, Any] = {
    "type": "view_submission", "team": {"id": "T0SANDBOX", "domain": "acme"},
    "user": {"id": "U0ASHA", "username": "asha", "team_id": "T0SANDBOX"}, "api_app_id": "A0PAVED", "token": "x",
    "trigger_id": "1.2.3", "view": {
        "id": "V0FORM", "team_id": "T0SANDBOX", "type": "modal", "callback_id": "incident_resolve_modal",
        "private_metadata": json.dumps({"incident_id": "Q1", "channel_id": "C0INCIDENT"}),
        "state": {"values": {"resolution": {"text": {"type": "plain_text_input", "value": "Rolled back"}}}},
        "hash": "1.a"}, "response_urls": [], "is_enterprise_install": False, "enterprise": None}
EVENT_CALLBACK: dict[str, Any] = {
    "token": "x", "team_id": "T0SANDBOX", "api_app_id": "A0PAVED", "type": "event_callback", "event_id": "Ev1",
    "event_time": 1700000000, "authorizations": [{"enterprise_id": None, "team_id": "T0SANDBOX", "user_id": "U0BOT",
                                                  "is_bot": True, "is_enterprise_install": False}],
    "event": {"type": "app_mention", "user": "U0ASHA", "text": "<@U0BOT> help", "ts": "1700000000.000200",
              "channel": "C0TEAM", "event_ts": "1700000000.000200"}}


def slack_form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def slack_interaction(payload: dict[str, Any]) -> bytes:
    """An interaction as Slack posts it: a form whose one field, `payload`, holds the JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()
