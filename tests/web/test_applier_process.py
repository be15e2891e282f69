"""PAVEDROAD_APPLIER=process: the worker applies the inbox in a process of its own beside the web process, on both
stores. What the web process stores is applied there (and not by a worker in the web process); /readyz follows its
heartbeat; it is restarted when it dies; it ends when the web process stops."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.clock import SystemClock
from bot.app.applier import ApplierProcess
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue, example_catalogue_path, load_catalogue
from bot.domain.incident import Status
from bot.services.dispatcher import RetryPolicy
from tests.helpers import WEBHOOK_SECRET, BotClient, incident_event, offline_settings, sign


@pytest.fixture(params=["sqlite", "postgres"])
async def separate_applier(request: pytest.FixtureRequest, tmp_path: Path,
                           catalogue: Catalogue) -> AsyncIterator[tuple[Bot, BotClient]]:
    settings = replace(offline_settings(tmp_path / "bot.db"), applier="process")
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        settings = replace(settings, database_url=cluster.url(cluster.fresh_database()))
    bot = Bot(settings, catalogue, retry_policy=RetryPolicy(max_attempts=1))
    async with TestClient(TestServer(build_web_app(bot))) as client:
        yield bot, client


async def deliver(client: BotClient, event_type: str, incident_id: str) -> None:
    body = json.dumps(incident_event(event_type, incident_id=incident_id, number=int(incident_id[1:]))).encode()
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, body)})
    assert response.status == 202


async def until(what: Callable[[], object], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not what():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def applied(bot: Bot) -> bool:
    return (await bot.store.depths())["inbox_pending"] == 0


async def test_the_applier_process_applies_what_the_web_process_stores(
        separate_applier: tuple[Bot, BotClient]) -> None:
    bot, client = separate_applier
    for number in range(1, 4):
        await deliver(client, "incident.triggered", f"Q{number}")
        await deliver(client, "incident.acknowledged", f"Q{number}")
    deadline = time.monotonic() + 60
    while not await applied(bot):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    for number in range(1, 4):
        incident = await bot.store.incident(f"Q{number}")
        assert incident is not None and incident.status is Status.ACKNOWLEDGED
    applier = bot.applier
    assert applier is not None and applier.pid is not None and applier.pid != os.getpid() and alive(applier.pid)
    assert bot.worker.heartbeat == 0.0  # no worker went round in the web process: the applier did the work
    # Its heartbeat reaches /readyz, and the effects it queued reach the dispatcher here (Slack is unreachable:
    # each channel's first attempt fails, and with one attempt allowed the effect is dead). Whether some are still
    # pending when looked at is the dispatcher's timing: the dead ones say it performed them.
    await until(lambda: applier.heartbeat > 0)
    ready = await (await client.get("/readyz")).json()
    assert ready["loops"] == {"worker": True, "dispatcher": True}
    deadline = time.monotonic() + 60
    while (await bot.store.depths())["outbox_dead"] == 0:
        assert time.monotonic() < deadline, "no effect attempted within the time allowed"
        await asyncio.sleep(0.05)
    pid = applier.pid
    await client.close()  # the bot stops: so does its applier
    await until(lambda: not alive(pid), within=10)


async def test_an_applier_that_dies_is_started_again_and_applies_what_waited(
        tmp_path: Path, catalogue: Catalogue) -> None:
    bot = Bot(replace(offline_settings(tmp_path / "bot.db"), applier="process"), catalogue)
    async with TestClient(TestServer(build_web_app(bot))) as client:
        await deliver(client, "incident.triggered", "Q1")
        applier = bot.applier
        assert applier is not None
        await until(lambda: applier.heartbeat > 0)
        first = applier.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await until(lambda: applier.pid != first)
        await deliver(client, "incident.triggered", "Q2")
        deadline = time.monotonic() + 60
        while await bot.store.incident("Q2") is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert applier.pid is not None and alive(applier.pid) and not alive(first)


async def test_an_applier_that_cannot_start_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    # The supervisor tries again every second: a start that fails (no interpreter where sys.executable says, no
    # file descriptors left) must not leave its pipes open each time, or the web process runs out of sockets.
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python-here"))
    applier = ApplierProcess(offline_settings(tmp_path / "bot.db"), load_catalogue(example_catalogue_path()),
                             "r1", SystemClock(), lambda: None)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(OSError):
            await applier.run()
    assert len(os.listdir("/proc/self/fd")) == before
