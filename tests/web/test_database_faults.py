"""The database lost while the bot runs (PostgreSQL, stopped under it): webhooks answer 503 so PagerDuty retries,
/readyz fails, nothing is acknowledged that was not stored; when the database is back, the same bot — no restart —
is ready again, stores the retried delivery as new (202, not a duplicate) and applies it. The URL's password never
shows in the logs meanwhile."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.store.postgres import connection
from bot.app import readiness
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.domain.effects import AlertOperators
from bot.services.dispatcher import RetryPolicy
from tests.helpers import BotClient, incident_event, offline_settings, quiet_clock
from tests.pg_cluster import PASSWORD, PASSWORD_USER, PostgresCluster
from tests.web.database_helpers import post, ready, sent_until_taken, until_ready


def failing_loops(caplog: pytest.LogCaptureFixture, line: str) -> set[str]:
    """The loops (worker, dispatcher) the log has said `line` of."""
    return {r.getMessage().split()[0] for r in caplog.records if line in r.getMessage()}


async def logged(caplog: pytest.LogCaptureFixture, line: str, loops: set[str] | None = None) -> set[str]:
    """Wait (a minute at most) until the log has said `line` of some loop (or of each of `loops`); which it has."""
    deadline = time.monotonic() + 60
    while not (said := failing_loops(caplog, line)) or (loops is not None and not loops <= said):
        assert time.monotonic() < deadline, f"the log never said {line!r} of {loops or 'a loop'}"
        await asyncio.sleep(0.2)
    return said


async def test_the_database_lost_while_running_answers_503_and_work_resumes_when_it_is_back(
        own_cluster: PostgresCluster, tmp_path: Path, catalogue: Catalogue,
        caplog: pytest.LogCaptureFixture) -> None:
    url = own_cluster.url(own_cluster.fresh_database(), user=PASSWORD_USER, password=PASSWORD)
    settings = replace(offline_settings(tmp_path / "unused.db"), database_url=url)
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
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
        # The loops fail on every restart meanwhile: the log has a counted summary line, not a traceback a second.
        await logged(caplog, "loop still failing")

        await asyncio.to_thread(own_cluster.start)
        await until_ready(client)
        failed = failing_loops(caplog, "loop failed")
        assert failed and await logged(caplog, "loop recovered after", failed) == failed
        traced = [r.getMessage().split()[0] for r in caplog.records if r.exc_info and "loop" in r.getMessage()]
        assert sorted(traced) == sorted(failed)  # one traceback for each loop that failed, in the whole outage
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


async def test_a_database_that_hangs_gives_not_ready_within_the_time_limit_and_ready_again_after(
        own_cluster: PostgresCluster, tmp_path: Path, catalogue: Catalogue) -> None:
    """A database that accepts connections and never answers (its processes stopped): /readyz answers 503 after
    its time limit rather than hanging the probe, and the probes that come while the store hangs share one round of
    checks; when the database answers again, so does /readyz, with 200."""
    settings = replace(offline_settings(tmp_path / "unused.db"), database_url=own_cluster.url(
        own_cluster.fresh_database()))
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
    async with TestClient(TestServer(build_web_app(bot))) as client:
        await until_ready(client)
        await asyncio.to_thread(own_cluster.pause)
        try:
            # The bound on the wait only turns a hang into a failure; the answer must come by the time limit.
            answers = await asyncio.wait_for(asyncio.gather(ready(client), ready(client)), 60)
        finally:
            await asyncio.to_thread(own_cluster.resume)
        expected = {"ready": False, "store": f"no answer within {readiness.CHECK_SECONDS:g}s"}
        assert list(answers) == [(503, expected), (503, expected)]
        await until_ready(client)


async def test_readyz_lists_the_latest_dead_effects_and_counts_the_rest(offline_bot: tuple[Bot, BotClient]) -> None:
    """A long outage can park thousands of effects: /readyz shows the latest DEAD_SHOWN and how many more. (Slack
    is unreachable for the offline bot, and it tries each effect once: every alert queued here is parked.)"""
    bot, client = offline_bot
    parked = readiness.DEAD_SHOWN + 5
    for n in range(parked):
        await bot.store.queue_effect(AlertOperators("operators", f"alert {n}"), now=bot.clock.now().timestamp())
    bot.dispatcher.wake()
    await bot.settle(30)
    every = [d["seq"] for d in await bot.store.dead_effects()]
    status, report = await ready(client)
    assert len(every) == parked and report["outbox_dead"] == parked and report["dead_effects_not_shown"] == 5
    assert [d["seq"] for d in report["dead_effects"]] == every[-readiness.DEAD_SHOWN:]
    assert (status, report["ready"], report["store"]) == (200, True, "ok")  # past failures: still ready


async def test_a_database_restart_under_a_burst_loses_no_delivery_and_applies_none_twice(
        own_cluster: PostgresCluster, tmp_path: Path, catalogue: Catalogue) -> None:
    """PostgreSQL restarted while deliveries come in on 16 connections (every pooled connection dropped at once, the
    database down for longer than a call waits for a connection): the bot, not restarted, refuses with 5xx what it
    could not store, and its senders' retries are taken once the database is back; in the end every incident is as
    its events say, each event applied once — one timeline line each, one channel opening per incident — no
    delivery was acknowledged as new (202) twice, and the effects under way as the database went are taken up again
    once it is back."""
    database = own_cluster.fresh_database()
    # Leases that would outlast the test: the effects the dispatcher had under way as the database went are resumed
    # once it is back (its loop, started again, frees them), not once their leases run out.
    settings = replace(offline_settings(tmp_path / "unused.db"), database_url=own_cluster.url(database),
                       lease_seconds=3600.0)
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1), clock=quiet_clock())
    incidents = [f"QRESTART{n:02d}" for n in range(40)]
    async with TestClient(TestServer(build_web_app(bot))) as client:
        await until_ready(client)
        answered: dict[str, list[int]] = {}
        quarter_taken, stopped = asyncio.Event(), asyncio.Event()

        async def sender(first: int) -> None:
            """Every 16th incident's trigger, then its acknowledgement (PagerDuty sends an incident's in order); once
            a quarter of the burst is taken, the next is sent only after the database has stopped."""
            for n in range(first, len(incidents), 16):
                for kind in ("incident.triggered", "incident.acknowledged"):
                    if quarter_taken.is_set():
                        await stopped.wait()
                    event = incident_event(kind, incident_id=incidents[n], event_id=f"E-{kind}-{n}", number=500 + n)
                    answered[event["event"]["id"]] = await sent_until_taken(client, event)
                    if len(answered) >= len(incidents) // 2:
                        quarter_taken.set()

        async def restart() -> None:
            await quarter_taken.wait()
            await asyncio.to_thread(own_cluster.stop)
            stopped.set()
            # Down for longer than a call waits for a pooled connection (connection.TIMEOUT): refusals are certain.
            await asyncio.sleep(connection.TIMEOUT + 2)
            await asyncio.to_thread(own_cluster.start)

        async with asyncio.timeout(180):  # liveness only: a bot that never takes them again fails here
            await asyncio.gather(restart(), *(sender(first) for first in range(16)))
            await bot.settle(60)
        assert len(answered) == 2 * len(incidents)
        assert any(statuses[0] >= 500 for statuses in answered.values()), answered  # the restart came under load
        assert all(statuses.count(202) <= 1 for statuses in answered.values()), answered
        with psycopg.connect(own_cluster.url(database)) as conn:
            inbox = conn.execute("SELECT state, count(*) FROM inbox GROUP BY state").fetchall()
            lines = conn.execute("SELECT incident_id, kind, count(*) FROM timeline GROUP BY incident_id, kind"
                                 " HAVING count(*) > 1").fetchall()
            openings = conn.execute("SELECT incident_id FROM outbox WHERE kind = 'open_incident_channel'").fetchall()
        assert inbox == [("applied", 2 * len(incidents))]
        assert lines == []
        assert sorted(incident for (incident,) in openings) == incidents
        for incident_id in incidents:
            incident = await bot.store.incident(incident_id)
            assert incident is not None and incident.status == "acknowledged", incident
    await bot.stop()
