"""POST /pagerduty/webhook: authentication, bad input, durability and de-duplication, through the HTTP app."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.app.cli.main import configure_logging
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.errors import DeliveryError
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import card, incident_channels, settle
from tests.helpers import (
    WEBHOOK_SECRET,
    BotClient,
    envelope,
    fixture,
    incident_event,
    note_event,
    offline_settings,
    quiet_clock,
    rows,
    sign,
)
from tests.web.door_helpers import post_pagerduty, raw_post


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
    assert json.loads(stored[0]["body"]) == json.loads(body)  # the JSON as sent, re-written clean and compact


async def test_duplicates_are_answered_2xx_and_dropped(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered", event_id="E1")).encode()
    assert (await post(client, body, headers={"X-Webhook-Id": "D1"}))[0] == 202
    # the same delivery retried, and the same event in a new delivery
    assert (await post(client, body, headers={"X-Webhook-Id": "D1"}))[1]["status"] == "duplicate"
    assert (await post(client, body, headers={"X-Webhook-Id": "D2"}))[0] == 200
    assert len(inbox(bot)) == 1


async def test_rotated_secrets_are_all_accepted(tmp_path: Path, catalogue: Catalogue) -> None:
    bot = Bot(offline_settings(tmp_path / "b.db", ("old-secret", "new-secret")), catalogue, clock=quiet_clock())
    async with TestClient(TestServer(build_web_app(bot))) as client:
        for secret in ("old-secret", "new-secret"):
            body = json.dumps(incident_event("incident.triggered")).encode()
            assert (await post(client, body, secret=secret))[0] == 202
        assert (await post(client, json.dumps(incident_event("incident.triggered")).encode(), secret="x"))[0] == 401


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"not json", 400, "body is not JSON"),
    (b"\xff\xfe", 400, "body is not UTF-8"),
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
    # Ready once each loop has gone round once: a probe in the first milliseconds after start may see "not yet".
    for _ in range(100):
        ready = await client.get("/readyz")
        report = await ready.json()
        if ready.status == 200:
            break
        await asyncio.sleep(0.05)
    assert ready.status == 200 and report["store"] == "ok" and report["loops"] == {"worker": True, "dispatcher": True}
    await post(client, b"nope")
    text = await (await client.get("/metrics")).text()
    assert "pavedroad_inbox_pending" in text and "pavedroad_outbox_dead" in text
    assert 'pavedroad_webhook_handling_seconds_count{outcome="rejected_400",source="pagerduty"} 1.0' in text


async def test_secrets_and_payloads_are_never_logged(offline_bot: tuple[Bot, BotClient], logging_restored: None,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    bot, client = offline_bot
    configure_logging("DEBUG")  # as `pavedroad serve` with LOG_LEVEL=DEBUG (alone, slack_sdk logged whole bodies)
    caplog.set_level(logging.DEBUG)
    event = incident_event("incident.triggered", title="SECRET-TITLE-123")
    await post(client, json.dumps(event).encode())
    await post(client, json.dumps(event).encode(), secret="wrong")
    await post(client, b"{not json SECRET-TITLE-123")
    await bot.settle(5)  # the worker has applied it and the dispatcher has tried (and failed) to reach Slack
    assert "applied incident.triggered" in caplog.text
    assert WEBHOOK_SECRET not in caplog.text and "SECRET-TITLE-123" not in caplog.text


# -- issue 11: what cannot be a delivery is 4xx and never stored; what is one is stored, whatever its content -------

async def test_a_non_utf8_byte_in_x_pagerduty_signature_gets_401(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered")).encode()
    for signature in (b"v1=\xff", sign(WEBHOOK_SECRET, body).encode() + b"\xff", b"\xc3\xa9"):
        answer = await raw_post(client, "/pagerduty/webhook", body, [(b"X-PagerDuty-Signature", signature)])
        assert (answer.status, answer.error) == (
            401, "X-PagerDuty-Signature does not match any configured PAGERDUTY_WEBHOOK_SECRETS")
    assert inbox(bot) == []


async def test_a_non_utf8_byte_in_x_webhook_id_gets_400(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered")).encode()
    answer = await raw_post(client, "/pagerduty/webhook", body, [
        (b"X-PagerDuty-Signature", sign(WEBHOOK_SECRET, body).encode()), (b"X-Webhook-Id", b"D\xff1")])
    assert (answer.status, answer.error) == (
        400, "X-Webhook-Id is not a delivery id (printable ASCII, at most 255 characters)")
    assert inbox(bot) == []


async def test_deep_nesting_of_5000_levels_gets_400(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    for deep in (b"[" * 5000 + b"]" * 5000,
                 json.dumps(incident_event("incident.triggered")).encode()[:-2] + b', "x": ' + b"[" * 5000
                 + b"]" * 5000 + b"}}"):
        answer = await post_pagerduty(client, deep)
        assert (answer.status, answer.error) == (400, "body is nested more than 64 levels deep")
    assert inbox(bot) == []


async def test_a_utf16_body_gets_400(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    for encoding in ("utf-16", "utf-16-le"):  # with its byte-order mark, and without
        answer = await post_pagerduty(client, json.dumps(incident_event("incident.triggered")).encode(encoding))
        assert answer.status == 400 and answer.error.startswith("body is not UTF-8")
    assert inbox(bot) == []


async def test_a_cesu8_body_gets_400(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    text = json.dumps(incident_event("incident.triggered", title="Checkout \U0001f525"), ensure_ascii=False)
    cesu8 = text.replace("\U0001f525", "\ud83d\udd25").encode("utf-8", "surrogatepass")
    lone = text.replace("\U0001f525", "\ud83d").encode("utf-8", "surrogatepass")
    for body in (cesu8, lone):
        answer = await post_pagerduty(client, body)
        assert answer.status == 400 and answer.error.startswith("body is not UTF-8 (byte ")
    assert inbox(bot) == []


async def test_signed_garbage_gets_400(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    for garbage in (b"\x8f\x00garbage", b"garbage", b"{{{{", b"", b"[1, 2]", b'"event"', b"null"):
        answer = await post_pagerduty(client, garbage)
        assert answer.status == 400, garbage
    assert inbox(bot) == []


async def test_an_integer_too_long_to_read_gets_400(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    event = json.dumps(incident_event("incident.triggered")).encode().replace(b'"number": 2', b'"number": '
                                                                               + b"9" * 5000)
    answer = await post_pagerduty(client, event)
    assert (answer.status, answer.error) == (400, "body has an integer of 5000 digits; at most 4300 are read")
    assert inbox(bot) == []


async def test_a_body_with_a_byte_order_mark_is_accepted_and_applied(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = b"\xef\xbb\xbf" + json.dumps(incident_event("incident.triggered", event_id="EBOM",
                                                       incident_id="QBOM")).encode()
    answer = await post_pagerduty(client, body)
    assert (answer.status, json.loads(answer.text)) == (202, {"status": "accepted", "event_id": "EBOM"})
    await bot.settle(5)
    [row] = inbox(bot)
    assert (row["state"], row["incident_id"], row["body"][0]) == ("applied", "QBOM", "{")
    assert await bot.store.incident("QBOM") is not None


async def stored_but_unreadable(bot: Bot, client: BotClient, event: dict[str, Any]) -> str:
    """Post a signed delivery the door must store (202); return why the worker cannot read the row it became."""
    answer = await post_pagerduty(client, json.dumps(event).encode())
    assert answer.status == 202, answer.text
    [row] = inbox(bot)
    with pytest.raises(DeliveryError) as unreadable:
        PagerDutyWebhook([WEBHOOK_SECRET]).read_event(row["body"], row["event_id"])
    assert row["incident_id"] in (None, "PGR0VU2")  # only an id that is a string orders the inbox
    return str(unreadable.value)


def triggered_with(**data: object) -> dict[str, Any]:
    event = incident_event("incident.triggered")
    event["event"]["data"].update(data)
    return event


def note_about(incident: object) -> dict[str, Any]:
    event = note_event("on it")
    event["event"]["data"]["incident"] = incident
    return event


async def test_data_number_1e30_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, triggered_with(number=1e30))
    assert reason == "event.data.number is 1e+30, not a whole number"


async def test_data_number_2_to_the_63_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, triggered_with(number=2 ** 63))
    assert reason == "event.data.number is 9223372036854775808, beyond a 64-bit integer"


async def test_data_incident_as_a_string_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, note_about("PGR0VU2"))
    assert reason == "event.data.incident is a string, not an object"
    assert [r["incident_id"] for r in inbox(offline_bot[0])] == [None]


async def test_data_incident_as_a_list_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, note_about(["PGR0VU2"]))
    assert reason == "event.data.incident is a list, not an object"
    assert [r["incident_id"] for r in inbox(offline_bot[0])] == [None]


async def test_data_id_as_an_object_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, triggered_with(id={"id": "PGR0VU2"}))
    assert reason == "event.data.id is an object, not a string"
    assert [r["incident_id"] for r in inbox(offline_bot[0])] == [None]


async def test_service_as_a_string_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, triggered_with(service="PCHECKO"))
    assert reason == "event.data.service is a string, not an object"


async def test_priority_as_a_string_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, triggered_with(priority="P1"))
    assert reason == "event.data.priority is a string, not an object"


async def test_infinity_in_data_is_stored_202_and_its_read_raises_a_delivery_error(
        offline_bot: tuple[Bot, BotClient]) -> None:
    reason = await stored_but_unreadable(*offline_bot, triggered_with(urgency=float("inf")))
    assert reason == "event.data.urgency is Infinity, not a finite number"


async def test_a_lone_surrogate_in_a_title_is_stored_as_the_replacement_character_and_applied(
        offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered", incident_id="QHALF", title="S\ud83d")).encode()
    assert b'"S\\ud83d"' in body  # as the JSON escape PagerDuty would send
    assert (await post_pagerduty(client, body)).status == 202
    await bot.settle(5)
    [row] = inbox(bot)
    assert json.loads(row["body"])["event"]["data"]["title"] == "S\ufffd" and row["state"] == "applied"
    incident = await bot.store.incident("QHALF")
    assert incident is not None and incident.title == "S\ufffd"


async def test_nul_in_text_is_removed_on_the_way_in(offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot
    body = json.dumps(incident_event("incident.triggered", title="Check\x00out")).encode()
    assert (await post_pagerduty(client, body)).status == 202
    [row] = inbox(bot)
    assert "\x00" not in row["body"] and json.loads(row["body"])["event"]["data"]["title"] == "Checkout"


async def test_a_delivery_with_a_byte_order_mark_and_half_an_emoji_gets_its_channel(sandbox: RunningSandbox) -> None:
    event = incident_event("incident.triggered", incident_id="QHALFBOM", number=911, title="Checkout \ud83d down")
    body = b"\xef\xbb\xbf" + json.dumps(event).encode()
    response = await post_pagerduty_at(sandbox, body)
    assert response == 202
    await settle(sandbox)
    [channel] = incident_channels(sandbox)
    assert channel["name"] == "inc-911-checkout-down"
    assert "Checkout \ufffd down" in json.dumps(card(sandbox, channel)["blocks"], ensure_ascii=False)
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def post_pagerduty_at(sandbox: RunningSandbox, body: bytes) -> int:
    async with aiohttp.ClientSession() as session, session.post(f"{sandbox.url}/pagerduty/webhook", data=body, headers={
            "X-PagerDuty-Signature": sign(sandbox.sandbox.keys.pagerduty_webhook_secrets[0], body)}) as response:
        return response.status
