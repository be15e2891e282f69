"""PostgreSQL failed over under the bot: a primary with a synchronous streaming standby (tests/pg_cluster.py), the bot
given one URL naming both (`postgresql://…@PRIMARY,STANDBY/…?target_session_attrs=read-write`), the primary killed
mid-burst and the standby promoted. The same bot process — not restarted, not reconfigured — refuses with 503 what it
cannot store while no database takes writes, then writes to the new primary: every delivery it acknowledged is
there and applied once, none acknowledged as new twice, and /readyz is 200 again. The URL's password never shows in
the logs meanwhile.

The old primary's address is left either refusing connections (its PostgreSQL gone, its machine up) or silent (its
machine gone or cut off: connections accepted and never answered, or not at all), which every new connection, trying
the URL's hosts in turn, meets first and must give up on soon enough to reach the new primary. Or the old primary
hangs rather than dies (its processes stopped: a storage stall, a frozen virtual machine): the connections the bot
holds to it stay open and never answer again, and the bot must give up on them too. A bot started after the
failover, on the same URL, must start too."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from tests.helpers import incident_event, offline_settings, quiet_clock
from tests.pg_cluster import PASSWORD, PASSWORD_USER, PostgresCluster, multi_host_url, silent_address
from tests.web.database_helpers import post, sent_until_taken, until_ready


def lose(primary: PostgresCluster, left: str, gone: contextlib.ExitStack) -> None:
    """The primary lost: killed, its address then `refusing` (nothing listens there) or `silent` (silent_address);
    or `hung` (every process of it stopped, its connections open: killed as `gone` closes)."""
    if left == "hung":
        primary.pause()
        gone.callback(primary.kill)
        gone.callback(primary.resume)  # (before the kill: a stopped process takes no signal but SIGKILL)
        return
    primary.kill()
    if left == "silent":
        gone.enter_context(silent_address(primary.port))


@pytest.mark.parametrize("left", ["refusing", "silent", "hung"])
async def test_a_failover_to_the_synchronous_standby_under_a_burst_loses_no_delivery_and_applies_none_twice(
        primary_and_standby: tuple[PostgresCluster, PostgresCluster], tmp_path: Path, catalogue: Catalogue,
        caplog: pytest.LogCaptureFixture, left: str) -> None:
    """Deliveries come in on 16 connections; once a quarter of them are taken the primary is killed (`pg_ctl stop
    -m immediate`: every connection dropped, nothing handed over) or hangs, and once the bot has refused a delivery
    for it, the standby is promoted. In the end, on the new primary: every delivery answered 2xx is in the inbox and
    applied — one timeline line each, one channel opening per incident — none was acknowledged as new (202) twice,
    and a delivery sent after the failover is taken and applied by the same bot."""
    primary, standby = primary_and_standby
    database = primary.fresh_database()
    url = multi_host_url([primary, standby], database, user=PASSWORD_USER, password=PASSWORD)
    # Leases that would outlast the test: the effects under way as the primary went are resumed once the bot
    # writes to the new one, not once their leases run out.
    settings = replace(offline_settings(tmp_path / "unused.db"), database_url=url, lease_seconds=3600.0)
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
    incidents = [f"QFAILOVER{n:02d}" for n in range(40)]
    async with TestClient(TestServer(build_web_app(bot))) as client:
        await until_ready(client)
        answered: dict[str, list[int]] = {}
        quarter_taken, killed, refused = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def sender(first: int) -> None:
            """Every 16th incident's trigger, then its acknowledgement (PagerDuty sends an incident's in order); once
            a quarter of the burst is taken, the next is sent only after the primary is dead."""
            for n in range(first, len(incidents), 16):
                for kind in ("incident.triggered", "incident.acknowledged"):
                    if quarter_taken.is_set():
                        await killed.wait()
                    event = incident_event(kind, incident_id=incidents[n], event_id=f"E-{kind}-{n}", number=700 + n)
                    answered[event["event"]["id"]] = await sent_until_taken(
                        client, event, refused if killed.is_set() else None)
                    if len(answered) >= len(incidents) // 2:
                        quarter_taken.set()

        async def failover() -> None:
            await quarter_taken.wait()
            await asyncio.to_thread(lose, primary, left, gone)
            killed.set()
            await refused.wait()  # the bot has answered a delivery 5xx while no database took writes
            await asyncio.to_thread(standby.promote)

        with contextlib.ExitStack() as gone:
            async with asyncio.timeout(180):  # liveness only: a bot that never writes to the new primary fails here
                await asyncio.gather(failover(), *(sender(first) for first in range(16)))
                await until_ready(client)
                await bot.settle(60)
        assert len(answered) == 2 * len(incidents)
        assert any(statuses[0] >= 500 for statuses in answered.values()), answered  # the failover came under load
        assert all(statuses.count(202) <= 1 for statuses in answered.values()), answered

        # The same bot carries on: a new delivery is taken as new, then known as a duplicate, and applied.
        after = incident_event("incident.triggered", incident_id="QAFTER", event_id="E-after", number=800)
        assert (await post(client, after))[0] == 202
        assert (await post(client, after))[0] == 200
        await bot.settle(60)
        assert bot.running

        with psycopg.connect(standby.url(database)) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
            inbox = conn.execute("SELECT event_id, state FROM inbox").fetchall()
            lines = conn.execute("SELECT incident_id, kind, count(*) FROM timeline GROUP BY incident_id, kind"
                                 " HAVING count(*) > 1").fetchall()
            openings = conn.execute("SELECT incident_id FROM outbox WHERE kind = 'open_incident_channel'").fetchall()
        assert sorted(event_id for event_id, _ in inbox) == sorted([*answered, "E-after"])
        assert {state for _, state in inbox} == {"applied"}
        assert lines == []
        assert sorted(incident for (incident,) in openings) == sorted([*incidents, "QAFTER"])
        for incident_id in incidents:
            incident = await bot.store.incident(incident_id)
            assert incident is not None and incident.status == "acknowledged", incident
    await bot.stop()
    assert PASSWORD not in caplog.text


async def test_a_bot_started_after_a_failover_passes_over_the_silent_old_primary(
        primary_and_standby: tuple[PostgresCluster, PostgresCluster], tmp_path: Path, catalogue: Catalogue) -> None:
    """The URL still names the old primary first, and its machine is gone (silent_address): a bot started now — a
    new replica, a deploy, a restart — opens its store on the new primary, listed second, serves, and is ready."""
    primary, standby = primary_and_standby
    database = primary.fresh_database()
    primary.sql("SELECT 1", database=database)
    await asyncio.to_thread(primary.kill)
    await asyncio.to_thread(standby.promote)
    with silent_address(primary.port):
        url = multi_host_url([primary, standby], database, user=PASSWORD_USER, password=PASSWORD)
        settings = replace(offline_settings(tmp_path / "unused.db"), database_url=url)
        bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
        async with TestClient(TestServer(build_web_app(bot))) as client:
            await until_ready(client)
            event = incident_event("incident.triggered", incident_id="QSTARTED", event_id="E-started")
            assert (await post(client, event))[0] == 202
            await bot.settle(60)
            assert await bot.store.incident("QSTARTED") is not None
        await bot.stop()
