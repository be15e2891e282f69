"""`pavedroad serve` in Socket Mode, as a newcomer runs it against `pavedroad emulators` (real processes): an app-level
token Slack refuses leaves the HTTP routes served (PagerDuty's webhook, /healthz, /readyz), is said once in the log as
an ERROR naming the fix and shown in /readyz, and is asked again in the background; the token the emulators print
connects.

Before: Socket Mode's connection was awaited before the server bound its port, and Bolt asked again for ever, so
the port never opened and the log repeated Bolt's tracebacks (`Failed to retrieve WSS URL … invalid_auth`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.app import socket_mode
from tests.e2e.process_helpers import free_port, http, wait_for

WRONG_APP_TOKEN = "xapp-1-wrong"


class World:
    """The emulators, and the bot `serve` started against them with the exports they printed."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bot_url = f"http://127.0.0.1:{free_port()}"
        self.base = {k: v for k, v in os.environ.items()
                     if not k.startswith(("SLACK_", "PAGERDUTY_", "SERVICENOW_", "CATALOGUE"))}
        self.printed = tmp / "emulators.out"
        self.processes: list[subprocess.Popen[bytes]] = []
        self._start(["emulators", "--port", "0", "--bot-url", self.bot_url], self.base, self.printed)
        wait_for(lambda: "pavedroad serve --port" in self.printed.read_text(), 60, "the emulators' exports")
        self.exports = dict(re.findall(r"^export (\w+)=(.*)$", self.printed.read_text(), re.M))
        self.emulators_url = self.exports["SLACK_API_URL"].removesuffix("/sandbox/slack/api/")
        self.log = tmp / "bot.log"

    def _start(self, args: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
        with open(out, "wb") as output:
            process = subprocess.Popen([sys.executable, "-m", "bot.app.cli.main", *args], env=env, cwd=self.tmp,
                                       stdout=output, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def serve(self, app_token: str) -> subprocess.Popen[bytes]:
        env = {**self.base, **self.exports, "SLACK_APP_TOKEN": app_token, "LOG_LEVEL": "INFO"}
        port = self.bot_url.rsplit(":", 1)[1]
        bot = self._start(["serve", "--port", port, "--db", str(self.tmp / "bot.db")], env, self.log)
        # Within Slack's patience for nothing: the port opens at once, whatever Slack says of the token.
        wait_for(lambda: http("GET", f"{self.bot_url}/healthz")["status"] == "ok", 30, "the bot's HTTP port")
        return bot

    def state(self) -> Any:
        return http("GET", f"{self.emulators_url}/sandbox/state")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(30)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    started = World(tmp_path)
    yield started
    started.stop()


def test_a_refused_app_token_leaves_the_http_routes_served_and_says_once_what_to_fix(world: World) -> None:
    bot = world.serve(WRONG_APP_TOKEN)

    # Served at once; Slack's refusal is said once its first answer is in (a loaded machine takes a moment).
    wait_for(lambda: http("GET", f"{world.bot_url}/readyz")["socket_mode"]["app_token"] == "refused", 30,
             "Slack's refusal of the app token in /readyz")
    ready = http("GET", f"{world.bot_url}/readyz")  # 200: urllib raises on a 503
    assert ready["ready"] is True
    socket_mode = ready["socket_mode"]
    assert (socket_mode["app_token"], socket_mode["error"], socket_mode["seen_on"]) == (
        "refused", "invalid_auth", "apps.connections.open")
    assert all(words in socket_mode["fix"] for words in ("SLACK_APP_TOKEN", "xapp-", "connections:write",
                                                         "Basic Information"))

    # PagerDuty's webhook is still served over HTTP: an incident triggered reaches the bot and is stored.
    http("POST", f"{world.emulators_url}/sandbox/pagerduty/incidents", {"title": "Checkout returns 500s",
                                                                       "service_id": "PCHECKO"})
    wait_for(lambda: ("delivered", 202) in [(d["status"], d["http_status"])
                                            for d in world.state()["pagerduty"]["webhook_deliveries"]],
             10, "the webhook stored")

    # Asked again in the background (Slack has answered invalid_auth in its own outages), and said only once.
    def asked() -> int:
        return int(world.state()["slack"]["calls"].get("apps.connections.open", 0))

    wait_for(lambda: asked() >= 3, 30, "apps.connections.open asked again")
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(30) == 0
    log = world.log.read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert "Slack refuses SLACK_APP_TOKEN (apps.connections.open: invalid_auth)" in errors[0]
    assert "connections:write" in errors[0] and "Basic Information" in errors[0]
    assert "Traceback" not in log and "Failed to retrieve WSS URL" not in log, log


def test_the_app_token_the_emulators_print_connects_socket_mode(world: World) -> None:
    # Printed commented out (HTTP mode is the default): uncommented, it is the token the emulators accept.
    printed = re.search(r"^# export SLACK_APP_TOKEN=(xapp-\S+)  # uncomment for Socket Mode$",
                        world.printed.read_text(), re.M)
    assert printed is not None, world.printed.read_text()
    world.serve(printed.group(1))

    def socket_mode() -> Any:
        return http("GET", f"{world.bot_url}/readyz")["socket_mode"]

    wait_for(lambda: socket_mode() == {"app_token": "accepted", "connected": True}, 30, "Socket Mode connected")
    answer = http("POST", f"{world.emulators_url}/sandbox/slack/command",
                  {"user": "asha.patel@example.com", "channel": "incidents", "text": "help"})
    assert answer["status"] == 200 and "/incident" in answer["body"]["text"]



class _SlackAnsweringAPage:
    """Slack's SDK as it reports apps.connections.open answered with a page labelled text/plain: a SlackApiError
    whose response holds the page as a string (bot/adapters/slack/failures.py lists that shape)."""

    def __init__(self) -> None:
        self.asked = 0

    async def apps_connections_open(self, app_token: str) -> Any:
        self.asked += 1
        page: Any = "<html>503</html>"  # the SDK's own type says dict or bytes: it hands over a str all the same
        raise SlackApiError("HTTP 503", AsyncSlackResponse(  # type: ignore[no-untyped-call]
            client=None, http_verb="POST", api_url="x", req_args={}, data=page, headers={}, status_code=503))


async def test_a_page_instead_of_slacks_json_is_asked_again_not_the_end_of_socket_mode(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review of session 21: reading that page as a dict raised an AttributeError in the connecting task,
    which ended silently: Socket Mode never connected, nothing said, /readyz "not yet checked"."""
    monkeypatch.setattr(socket_mode, "BACKOFF_BASE_SECONDS", 0.001)
    slack = _SlackAnsweringAPage()
    connection = socket_mode.SocketModeConnection(SimpleNamespace(client=slack), "xapp-1")  # type: ignore[arg-type]
    connecting = asyncio.create_task(connection.connect())
    try:
        for _ in range(500):  # the backoff is a millisecond: a few asks come within moments
            if slack.asked >= 3 or connecting.done():
                break
            await asyncio.sleep(0.01)
        assert not connecting.done() and slack.asked >= 3  # still asking
        state = await connection.state()
        assert state["app_token"] == "checking" and "503" in str(state["last_failure"])
    finally:
        connecting.cancel()
