"""POST /pagerduty/webhook: authentication, bad input, durability and de-duplication, through the HTTP app."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from tests.helpers import WEBHOOK_SECRET, BotClient, envelope, fixture, incident_event, offline_settings, rows, sign


async def post(client: BotClient, body: bytes, *, secret: str = WEBHOOK_SECRET,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(secret, body), **(headers or {})})
    return response.status, await response.json()


def inbox(bot: Bot) -> list[dict[str, Any]]:
    return rows(bot.settings.db_path, "SELECT * FROM inbox ORDER BY seq")


async def test_a_signed_event_is_stored_before_202(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered", event_id="E1")).encode()
    status, answer = await post(client, body, headers={"X-Webhook-Id": "D1"})
    assert (status, answer) == (202, {"status": "accepted", "event_id": "E1"})
    stored = inbox(bot)
    assert [(r["delivery_id"], r["event_id"], r["event_type"], r["incident_id"]) for r in stored] == \
        [("D1", "E1", "incident.triggered", "PGR0VU2")]
    assert stored[0]["body"] == body.decode()


async def test_duplicates_are_answered_2xx_and_dropped(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered", event_id="E1")).encode()
    assert (await post(client, body, headers={"X-Webhook-Id": "D1"}))[0] == 202
    # the same delivery retried, and the same event in a new delivery
    assert (await post(client, body, headers={"X-Webhook-Id": "D1"}))[1]["status"] == "duplicate"
    assert (await post(client, body, headers={"X-Webhook-Id": "D2"}))[0] == 200
    assert len(inbox(bot)) == 1


async def test_rotated_secrets_are_all_accepted(tmp_path: Path, catalogue: Catalogue) -> None:
    bot = Bot(offline_settings(tmp_path / "b.db", ("old-secret", "new-secret")), catalogue)
    async with TestClient(TestServer(build_web_app(bot))) as client:
        for secret in ("old-secret", "new-secret"):
            body = json.dumps(incident_event("incident.triggered")).encode()
            assert (await post(client, body, secret=secret))[0] == 202
        assert (await post(client, json.dumps(incident_event("incident.triggered")).encode(), secret="x"))[0] == 401


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"not json", 400, "body is not JSON"),
    (b"\xff\xfe", 400, "body is not JSON"),
    (b"[]", 400, "missing the 'event' envelope"),
    (b'{"event": {"id": "1"}}', 400, "event.event_type is missing"),
])
async def test_malformed_bodies_get_400_with_a_reason(offline_bot: tuple[Bot, BotClient], body: bytes,
                                                      status: int, reason: str) -> None:
    bot, client = offline_bot
    got_status, answer = await post(client, body)
    assert got_status == status and reason in answer["error"]
    assert inbox(bot) == []


async def test_bad_or_missing_signature_gets_401(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered")).encode()
    assert (await post(client, body, secret="wrong"))[0] == 401
    response = await client.post("/pagerduty/webhook", data=body)
    assert response.status == 401 and "X-PagerDuty-Signature" in (await response.json())["error"]
    assert inbox(bot) == []


async def test_oversized_body_gets_413(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    event = incident_event("incident.triggered")
    event["event"]["data"]["description"] = "x" * (256 * 1024)
    status, answer = await post(client, json.dumps(event).encode())
    assert status == 413 and "262144" in answer["error"]
    huge = b"{" + b" " * (2 * 1024 * 1024) + b"}"

    async def chunks() -> AsyncIterator[bytes]:  # streamed, so no Content-Length tells the size up front
        for start in range(0, len(huge), 65536):
            yield huge[start:start + 65536]
    response = await client.post("/pagerduty/webhook", data=chunks(), headers={
        "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, huge)})
    assert response.status == 413
    assert inbox(bot) == []


async def test_unknown_event_types_are_stored_and_answered_2xx(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    for event in (envelope("service.updated", fixture("data.service.json"), occurred_at="2026-11-27T10:00:00Z"),
                  envelope("pagey.ping", {}, occurred_at="2026-11-27T10:00:00Z"),
                  envelope("incident.workflow.started", fixture("data.incident_workflow_instance.json"),
                           occurred_at="2026-11-27T10:00:00Z")):
        assert (await post(client, json.dumps(event).encode()))[0] == 202
    await bot.settle(5)
    assert [r["state"] for r in inbox(bot)] == ["ignored", "ignored", "ignored"]


async def test_health_readiness_and_metrics(offline_bot: tuple[Bot, BotClient]) -> None:
    _bot, client = offline_bot
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    report = await ready.json()
    assert ready.status == 200 and report["store"] == "ok" and report["loops"] == {"worker": True, "dispatcher": True}
    await post(client, b"nope")
    text = await (await client.get("/metrics")).text()
    assert "pavedroad_inbox_pending" in text and "pavedroad_outbox_dead" in text
    assert 'pavedroad_webhook_handling_seconds_count{outcome="rejected_400",source="pagerduty"} 1.0' in text


async def test_secrets_and_payloads_are_never_logged(offline_bot: tuple[Bot, BotClient],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    bot, client = offline_bot
    caplog.set_level(logging.DEBUG)
    event = incident_event("incident.triggered", title="SECRET-TITLE-123")
    await post(client, json.dumps(event).encode())
    await post(client, json.dumps(event).encode(), secret="wrong")
    await post(client, b"{not json SECRET-TITLE-123")
    await bot.settle(5)  # the worker has applied it and the dispatcher has tried (and failed) to reach Slack
    assert "applied incident.triggered" in caplog.text
    assert WEBHOOK_SECRET not in caplog.text and "SECRET-TITLE-123" not in caplog.text
