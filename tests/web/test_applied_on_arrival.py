"""POST /pagerduty/webhook applies a delivery as it stores it (bot/services/intake.py): when its 202 is sent, the
incident, its timeline line and its effects are already stored, in the delivery's one transaction, and the worker had
nothing to do. A delivery stored behind one still pending is only stored: the worker applies both, in order. Driven
through the real app, with the worker not running, so that whatever is applied was applied on arrival."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.domain.incident import Status
from bot.services.dispatcher import RetryPolicy
from tests.helpers import BotClient, incident_event, offline_settings, quiet_clock, rows
from tests.web.door_helpers import post_pagerduty


@pytest.fixture
async def idle_worker_bot(tmp_path: Path, catalogue: Catalogue) -> AsyncIterator[tuple[Bot, BotClient]]:
    """The bot's HTTP app and store, its worker and dispatcher not started."""
    bot = Bot(offline_settings(tmp_path / "bot.db"), catalogue, retry_policy=RetryPolicy(max_attempts=1),
              clock=quiet_clock())
    await bot.store.open()
    client = TestClient(TestServer(build_web_app(bot, manage_lifecycle=False, socket_mode=False)))
    await client.start_server()
    yield bot, client
    await client.close()
    await bot.store.close()


def states(bot: Bot) -> list[tuple[str, str]]:
    return [(r["event_id"], r["state"]) for r in rows(bot.settings.db_path, "SELECT * FROM inbox ORDER BY seq")]


async def test_a_delivery_is_applied_before_its_202(idle_worker_bot: tuple[Bot, BotClient]) -> None:
    bot, client = idle_worker_bot
    for kind, event_id in (("incident.triggered", "E1"), ("incident.acknowledged", "E2")):
        body = json.dumps(incident_event(kind, incident_id="QARR", event_id=event_id)).encode()
        assert (await post_pagerduty(client, body)).status == 202
    assert states(bot) == [("E1", "applied"), ("E2", "applied")]
    incident = await bot.store.incident("QARR")
    assert incident is not None and incident.status is Status.ACKNOWLEDGED
    assert [e.kind for e in await bot.store.timeline("QARR")] == ["triggered", "acknowledged"]
    assert (await bot.store.depths())["outbox_pending"] > 0  # the channel and the lines, queued with them


async def test_a_delivery_behind_a_pending_one_is_left_for_the_worker(idle_worker_bot: tuple[Bot, BotClient]) -> None:
    bot, client = idle_worker_bot
    # A delivery stored without applying (as the applier process's web process, or a replica, stores them).
    body = json.dumps(incident_event("incident.triggered", incident_id="QARR", event_id="E1"))
    assert await bot.store.record_delivery(source="pagerduty", delivery_id="D1", event_id="E1",
                                           event_type="incident.triggered", incident_id="QARR",
                                           occurred_at="2026-11-27T10:00:00.000Z", body=body)
    acknowledged = json.dumps(incident_event("incident.acknowledged", incident_id="QARR", event_id="E2")).encode()
    assert (await post_pagerduty(client, acknowledged)).status == 202
    assert states(bot) == [("E1", "pending"), ("E2", "pending")]
    assert await bot.store.incident("QARR") is None
    assert await bot.worker.drain() == 2
    incident = await bot.store.incident("QARR")
    assert incident is not None and incident.status is Status.ACKNOWLEDGED
