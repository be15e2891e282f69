"""The database answering but refusing writes (SQLSTATE 25006): a managed endpoint still on a node just demoted in a
failover, a URL with `target_session_attrs=any` reaching a standby, an operator's `default_transaction_read_only`.
Every write failed with an error taken for the row's, not the database's: a delivery answered 500 (PagerDuty gives
up on a 4xx/5xx the same as on a 503, but the bot's own words said it would not be retried), and /readyz — `SELECT
1` — said ready, so the load balancer kept sending. Now it is the database's trouble: 503, "will retry", /readyz not
ready, nothing quarantined; writable again, the same bot stores the delivery as new and applies it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from tests.helpers import incident_event, offline_settings, quiet_clock
from tests.pg_cluster import PostgresCluster
from tests.web.database_helpers import post, ready, until_ready


async def read_only(cluster: PostgresCluster, on: bool) -> None:
    """Every session of the cluster read-only (or writable again), those already open too (a reload applies it)."""
    setting = "ALTER SYSTEM SET default_transaction_read_only = on" if on else \
        "ALTER SYSTEM RESET default_transaction_read_only"
    await asyncio.to_thread(cluster.sql, setting, "SELECT pg_reload_conf()")


async def test_a_database_refusing_writes_answers_503_and_quarantines_nothing(
        own_cluster: PostgresCluster, tmp_path: Path, catalogue: Catalogue) -> None:
    url = own_cluster.url(own_cluster.fresh_database())
    settings = replace(offline_settings(tmp_path / "unused.db"), database_url=url)
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
    async with TestClient(TestServer(build_web_app(bot))) as client:
        assert (await post(client, incident_event("incident.triggered", incident_id="QBEFORE",
                                                  event_id="E-before")))[0] == 202
        await bot.settle(10)
        await read_only(own_cluster, True)
        await asyncio.sleep(0.5)  # the reload reaches every session
        during = incident_event("incident.triggered", incident_id="QDURING", event_id="E-during")
        status, answer = await post(client, during)
        assert status == 503 and "will retry" in answer["error"], (status, answer)
        status, report = await ready(client)
        assert status == 503 and report["ready"] is False, report

        await read_only(own_cluster, False)
        await until_ready(client)
        assert (await post(client, during))[0] == 202  # stored as new: it was never acknowledged
        await bot.settle(10)
        assert await bot.store.incident("QDURING") is not None
        assert (await bot.store.depths())["inbox_failed"] == 0
