"""One delivery never stops the others: what cannot be applied is quarantined (the worker goes on, /readyz stays
200 and lists it, /metrics counts it), and what cannot be stored fails alone in its group commit. Through the HTTP
app, against the real store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from tests.helpers import WEBHOOK_SECRET, BotClient, incident_event, offline_settings, quiet_clock, rows, sign


async def post(client: BotClient, event: dict[str, Any]) -> int:
    body = json.dumps(event).encode()
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, body)})
    return response.status


def states(bot: Bot) -> dict[str, str]:
    return {r["event_id"]: r["state"] for r in rows(bot.settings.db_path, "SELECT event_id, state FROM inbox")}


def poisoned(event_id: str, **data: Any) -> dict[str, Any]:
    event = incident_event("incident.triggered", incident_id="PPOISON", number=7, event_id=event_id)
    event["event"]["data"].update(data)
    return event


async def test_a_number_beyond_64_bits_is_quarantined_and_the_next_trigger_is_applied(
        offline_bot: tuple[Bot, BotClient], caplog: pytest.LogCaptureFixture) -> None:
    bot, client = offline_bot
    assert await post(client, poisoned("E-huge", number=1e30)) == 202
    assert await post(client, incident_event("incident.triggered", incident_id="PNEXT", event_id="E-next")) == 202
    await bot.settle(10)
    assert states(bot) == {"E-huge": "failed", "E-next": "applied"}
    assert await bot.store.incident("PNEXT") is not None
    assert "loop crashed" not in caplog.text
    [failed] = await bot.store.failed_deliveries()
    assert failed.incident_id == "PPOISON" and failed.event_type == "incident.triggered"
    assert f"reference {failed.reference}" in caplog.text


async def test_a_decision_the_store_refuses_is_quarantined_with_its_traceback_logged_under_its_reference(
        offline_bot: tuple[Bot, BotClient], caplog: pytest.LogCaptureFixture) -> None:
    """The store refuses one incident the way a database does (a trigger in the test's own database file): the
    delivery is set aside, its traceback logged under the reference the alert and `pavedroad inbox failed` give."""
    bot, client = offline_bot
    with contextlib.closing(sqlite3.connect(bot.settings.db_path, isolation_level=None)) as conn:
        conn.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON incidents WHEN NEW.id = 'PPOISON'"
                     " BEGIN SELECT RAISE(ABORT, 'this incident is refused'); END")
    assert await post(client, poisoned("E-refused")) == 202
    assert await post(client, incident_event("incident.triggered", incident_id="PNEXT", event_id="E-next")) == 202
    await bot.settle(10)
    assert states(bot) == {"E-refused": "failed", "E-next": "applied"}
    [failed] = await bot.store.failed_deliveries()
    assert "this incident is refused" in failed.reason
    [record] = [r for r in caplog.records if f"reference {failed.reference}" in r.getMessage()]
    assert record.exc_info is not None and "this incident is refused" in str(record.exc_info[1])
    assert "loop crashed" not in caplog.text


@pytest.mark.parametrize(("field", "value"), [("priority", "P1"), ("service", "PCHECKO")],
                         ids=["priority_as_the_string_P1", "service_as_the_string_PCHECKO"])
async def test_a_field_of_the_wrong_type_is_quarantined_and_readyz_stays_200(
        offline_bot: tuple[Bot, BotClient], field: str, value: str) -> None:
    bot, client = offline_bot
    assert await post(client, poisoned("E-bad", **{field: value})) == 202
    assert await post(client, incident_event("incident.triggered", incident_id="PNEXT", event_id="E-next")) == 202
    await bot.settle(10)
    assert states(bot) == {"E-bad": "failed", "E-next": "applied"}
    ready = await client.get("/readyz")
    report = await ready.json()
    assert ready.status == 200 and report["ready"] is True and report["inbox_failed"] == 1
    [listed] = report["failed_deliveries"]
    assert listed["incident_id"] == "PPOISON" and listed["event_type"] == "incident.triggered"
    assert listed["reference"] and listed["reason"] and listed["received_at"]


async def test_an_infinite_number_never_stops_the_queue(offline_bot: tuple[Bot, BotClient]) -> None:
    """`"number": Infinity` (not JSON by the RFC, but Python reads it): refused at the door, or stored and
    quarantined; either way the next trigger is applied and the bot stays ready."""
    bot, client = offline_bot
    body = json.dumps(poisoned("E-inf", number=float("inf"))).encode()
    assert b"Infinity" in body
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, body)})
    assert response.status in (202, 400)
    assert await post(client, incident_event("incident.triggered", incident_id="PNEXT", event_id="E-next")) == 202
    await bot.settle(10)
    assert states(bot)["E-next"] == "applied"
    assert states(bot).get("E-inf", "failed") == "failed"
    assert (await client.get("/readyz")).status == 200


async def test_readyz_lists_quarantined_deliveries_and_dead_effects_without_failing_and_metrics_count_them(
        offline_bot: tuple[Bot, BotClient]) -> None:
    bot, client = offline_bot  # Slack is unreachable and effects get one attempt: they die
    for number in range(8):
        assert await post(client, poisoned(f"E{number}", number=1e30 + number)) == 202
    assert await post(client, incident_event("incident.triggered", incident_id="PNEXT", event_id="E-next")) == 202
    await bot.settle(10)
    ready = await client.get("/readyz")
    report = await ready.json()
    assert ready.status == 200 and report["ready"] is True
    assert report["store"] == "ok" and report["loops"] == {"worker": True, "dispatcher": True}
    assert report["inbox_failed"] == 8 and len(report["failed_deliveries"]) == 5  # the latest few
    assert report["dead_effects"] and report["outbox_dead"] == len(report["dead_effects"])
    metrics = await (await client.get("/metrics")).text()
    assert "\npavedroad_inbox_failed 8.0\n" in metrics


async def test_readyz_is_503_when_the_loops_are_not_running(tmp_path: Path, catalogue: Catalogue) -> None:
    bot = Bot(offline_settings(tmp_path / "bot.db"), catalogue, clock=quiet_clock())
    await bot.store.open()  # the store answers, but the worker and dispatcher were never started
    try:
        async with TestClient(TestServer(build_web_app(bot, manage_lifecycle=False))) as client:
            ready = await client.get("/readyz")
            report = await ready.json()
            assert ready.status == 503 and report["ready"] is False and report["store"] == "ok"
            assert report["loops"] == {"worker": False, "dispatcher": False}
            assert (await client.get("/healthz")).status == 200
    finally:
        await bot.stop()


async def test_one_delivery_the_store_refuses_among_60_fails_alone_and_59_are_answered_2xx(
        offline_bot: tuple[Bot, BotClient], caplog: pytest.LogCaptureFixture) -> None:
    """The door lets no text through that SQLite refuses, so the store is made to refuse one row the way a database
    does: a trigger in the test's own database file. Before, the group commit failed every caller in its batch."""
    bot, client = offline_bot
    with contextlib.closing(sqlite3.connect(bot.settings.db_path, isolation_level=None)) as conn:
        conn.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON inbox WHEN NEW.event_id = 'poison'"
                     " BEGIN SELECT RAISE(ABORT, 'this row is refused'); END")
    events = [incident_event("incident.triggered", incident_id=f"P{i}", number=i + 1, event_id=f"E{i}")
              for i in range(59)]
    events.insert(30, incident_event("incident.triggered", incident_id="PPOISON", event_id="poison"))
    caplog.set_level(logging.WARNING)
    statuses = await asyncio.gather(*(post(client, event) for event in events))
    assert statuses[30] == 503
    assert statuses[:30] + statuses[31:] == [202] * 59
    stored = states(bot)
    assert len(stored) == 59 and "poison" not in stored
