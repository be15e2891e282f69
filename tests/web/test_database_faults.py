"""The database lost while the bot runs (PostgreSQL, stopped under it): webhooks answer 503 so PagerDuty retries,
/readyz fails, nothing is acknowledged that was not stored; when the database is back, the same bot — no restart —
is ready again, stores the retried delivery as new (202, not a duplicate) and applies it. The URL's password never
shows in the logs meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from tests.helpers import WEBHOOK_SECRET, BotClient, incident_event, offline_settings, sign
from tests.pg_cluster import NOT_INSTALLED, PASSWORD, PASSWORD_USER, PostgresCluster, binaries


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: it is stopped and started under the bot, which the session's must not be."""
    if binaries() is None:
        pytest.skip(NOT_INSTALLED)
    cluster = PostgresCluster()
    try:
        cluster.start()
        cluster.prepare()
        yield cluster
    finally:
        cluster.destroy()


async def post(client: BotClient, event: dict[str, Any]) -> tuple[int, Any]:
    body = json.dumps(event).encode()
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, body)})
    return response.status, await response.json()


async def ready(client: BotClient) -> tuple[int, Any]:
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_the_database_lost_while_running_answers_503_and_work_resumes_when_it_is_back(
        own_cluster: PostgresCluster, tmp_path: Path, catalogue: Catalogue,
        caplog: pytest.LogCaptureFixture) -> None:
    url = own_cluster.url(own_cluster.fresh_database(), user=PASSWORD_USER, password=PASSWORD)
    settings = replace(offline_settings(tmp_path / "unused.db"), database_url=url)
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1))
    async with TestClient(TestServer(build_web_app(bot))) as client:
        first = incident_event("incident.triggered", incident_id="QBEFORE", event_id="E-before")
        assert (await post(client, first))[0] == 202
        await bot.settle(10)
        assert (await ready(client))[0] == 200

        await asyncio.to_thread(own_cluster.stop)
        during = incident_event("incident.triggered", incident_id="QDURING", event_id="E-during")
        status, answer = await post(client, during)
        assert status == 503 and "will retry" in answer["error"]
        status, report = await ready(client)
        assert status == 503 and report["ready"] is False and report["store"].startswith("unreachable")
        assert not (tmp_path / "unused.db").exists()  # nothing fell back to SQLite
        assert (await client.get("/metrics")).status == 200  # the process's own metrics still answer

        await asyncio.to_thread(own_cluster.start)
        deadline = time.monotonic() + 60
        while (await ready(client))[0] != 200:
            assert time.monotonic() < deadline, await ready(client)
            await asyncio.sleep(0.2)
        # PagerDuty retries the delivery it was refused: stored now, as new — it was never acknowledged before.
        assert (await post(client, during))[0] == 202
        assert (await post(client, during))[0] == 200  # and now it is a duplicate
        await bot.settle(10)
        assert await bot.store.incident("QDURING") is not None
        assert await bot.store.incident("QBEFORE") is not None
    assert PASSWORD not in caplog.text


async def test_an_sqlite_store_that_fails_under_the_bot_answers_503_and_metrics_still_answer(
        offline_bot: tuple[Bot, BotClient]) -> None:
    """The same answers on SQLite: its store closed under the running bot (every call now raises), a webhook is
    refused with 503 rather than acknowledged, /readyz fails, and /metrics still answers."""
    bot, client = offline_bot
    await bot.store.close()
    status, answer = await post(client, incident_event("incident.triggered", incident_id="QLOST", event_id="E-lost"))
    assert status == 503 and "will retry" in answer["error"]
    status, report = await ready(client)
    assert status == 503 and report == {"ready": False, "store": "unreachable: RuntimeError"}
    assert (await client.get("/metrics")).status == 200
