"""The container's health check (`python -m bot.app.healthcheck`, the Dockerfile's HEALTHCHECK): healthy only when
the bot on this host's PORT answers /healthz with 200; every other case is unhealthy, said in one line."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import healthcheck
from bot.app.runtime import Bot
from tests.e2e.process_helpers import free_port
from tests.helpers import BotClient


async def test_the_running_bot_is_healthy(offline_bot: tuple[Bot, BotClient]) -> None:
    _, client = offline_bot
    port = client.server.port
    assert port is not None
    # The check blocks (urllib, as in the container): off the loop, which serves the bot meanwhile.
    healthy, line = await asyncio.to_thread(healthcheck.check, {"PORT": str(port)})
    assert healthy and line == f"http://127.0.0.1:{port}/healthz: 200"


async def test_a_process_answering_healthz_with_an_error_is_unhealthy() -> None:
    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/healthz", failing)
    async with TestClient(TestServer(app)) as client:
        healthy, line = await asyncio.to_thread(healthcheck.check, {"PORT": str(client.server.port)})
    assert not healthy and line.endswith("/healthz: 500")


def test_nothing_listening_is_unhealthy_with_the_reason() -> None:
    port = free_port()
    healthy, line = healthcheck.check({"PORT": str(port)})
    assert not healthy and line.startswith(f"http://127.0.0.1:{port}/healthz: no answer (")


@pytest.mark.parametrize("port", ["http", "0", "70000", "-1", '"3000"', "²", "٣٠٠٠", "1e3"],
                         ids=["a_word", "zero", "beyond_65535", "negative", "in_quotes", "superscript_two",
                              "arabic_indic_digits", "exponent"])
def test_a_port_that_is_no_tcp_port_is_unhealthy_and_named(port: str) -> None:
    healthy, line = healthcheck.check({"PORT": port})
    assert not healthy and line.startswith("PORT: ") and "\n" not in line


def test_a_port_with_a_trailing_space_or_newline_is_read_as_the_server_reads_it() -> None:
    """The server and the check read PORT alike: spaces and a newline around it are no part of it."""
    port = free_port()
    healthy, line = healthcheck.check({"PORT": f"{port}\n"})
    assert not healthy and line.startswith(f"http://127.0.0.1:{port}/healthz: no answer (")


def test_main_exits_0_when_healthy_1_otherwise_with_one_line_on_stderr(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PORT", str(free_port()))
    assert healthcheck.main() == 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
