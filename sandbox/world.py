"""The sandbox's world: the emulators seeded from the catalogue, their control routes, and one-port serving.

`Sandbox` owns the emulators and the routes `GET /sandbox/state` and `GET|POST|DELETE /sandbox/faults`;
`serve_sandbox()` binds one port and serves the emulators and the bot on it together (the `pavedroad sandbox`
command, and the end-to-end tests with port 0); `seed_running()` gives them the synthetic incident history.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.adapters.clock import SettableClock
from bot.adapters.pagerduty.history_import import client_for, fetch_history
from bot.app.config import ServiceNowAccess, Settings, given
from bot.app.runtime import Bot
from bot.app.web import build_web_app, close_socket_mode, open_socket_mode
from bot.catalogue import Catalogue, SandboxSeed
from bot.services.dispatcher import RetryPolicy
from bot.services.reports.synthetic import synthetic_history, synthetic_span
from sandbox.faults import SERVICES, Fault, Faults
from sandbox.pagerduty.emulator import PagerDutyEmulator
from sandbox.pagerduty.openapi import load_pagerduty_validator
from sandbox.servicenow.emulator import ServiceNowEmulator
from sandbox.slack.emoji import is_emoji
from sandbox.slack.emulator import SlackEmulator
from sandbox.slack.model import Channel
from sandbox.ui.page import SandboxPage

SANDBOX_KEY = web.AppKey("sandbox", object)
SERVICENOW_USER = "pavedroad.integration"
TRIGGER_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class SandboxSecrets:
    slack_bot_token: str
    slack_signing_secret: str
    pagerduty_api_token: str
    pagerduty_webhook_secrets: tuple[str, ...]
    slack_app_token: str | None = None
    servicenow_password: str = "sandbox-servicenow"
    servicenow_webhook_secret: str = "sandbox-servicenow-webhook"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, credentials: bool = False) -> SandboxSecrets:
        """Generated, except that PAGERDUTY_WEBHOOK_SECRETS, SLACK_SIGNING_SECRET and SERVICENOW_WEBHOOK_SECRET from
        the environment win, so real captured deliveries can be replayed against the sandbox; with `credentials`
        (`pavedroad emulators`, whose bot is started apart), SLACK_BOT_TOKEN, PAGERDUTY_API_TOKEN and
        SERVICENOW_PASSWORD too. Each is read as the bot reads it (`given`): the variable, else the file its
        `<NAME>_FILE` names; ConfigError when that file cannot be read, as the bot's `check-config` says."""
        env = os.environ if env is None else env

        def taken(name: str) -> str | None:
            return given(env, name) if credentials else None
        pd = [s.strip() for s in (given(env, "PAGERDUTY_WEBHOOK_SECRETS") or "").split(",") if s.strip()]
        return cls(slack_bot_token=taken("SLACK_BOT_TOKEN") or "xoxb-sandbox-" + secrets.token_hex(8),
                   slack_signing_secret=given(env, "SLACK_SIGNING_SECRET") or secrets.token_hex(16),
                   pagerduty_api_token=taken("PAGERDUTY_API_TOKEN") or "sandbox-" + secrets.token_hex(10),
                   pagerduty_webhook_secrets=tuple(pd) or (secrets.token_hex(24),),
                   slack_app_token="xapp-1-sandbox-" + secrets.token_hex(8),
                   servicenow_password=taken("SERVICENOW_PASSWORD") or secrets.token_hex(12),
                   servicenow_webhook_secret=given(env, "SERVICENOW_WEBHOOK_SECRET") or secrets.token_hex(16))


class Sandbox:
    def __init__(self, catalogue: Catalogue, keys: SandboxSecrets, *, rate_limit_scale: float = 1.0,
                 validate_openapi: bool = True, pagerduty_rate_limit: int = 960,
                 clock: SettableClock | None = None) -> None:
        seed = catalogue.sandbox or SandboxSeed()
        self.catalogue, self.keys = catalogue, keys
        self.clock = clock or SettableClock()
        self.faults = Faults(clock=self.clock.timestamp)
        self.on_clock_moved: list[Callable[[], None]] = []
        # Awaited after a move, before the clock control answers: e.g. the bot queueing handovers now due.
        self.after_clock_moved: list[Callable[[], Awaitable[object]]] = []
        channels = {catalogue.channels.default_announce_channel, catalogue.channels.operators_channel,
                    catalogue.channels.stakeholders}
        channels |= {t.slack_channel for t in catalogue.teams if t.slack_channel}
        channels |= {d.slack_channel for d in catalogue.domains if d.slack_channel}
        channels |= {d.stakeholders_channel for d in catalogue.domains if d.stakeholders_channel}
        self.slack = SlackEmulator(people=seed.people, channels=sorted(channels), faults=self.faults,
                                   bot_token=keys.slack_bot_token, signing_secret=keys.slack_signing_secret,
                                   rate_limit_scale=rate_limit_scale, app_token=keys.slack_app_token,
                                   clock=self.clock.timestamp)
        # The organisation's timeline reaction is an emoji its workspace has: a custom one when not standard.
        if not is_emoji(catalogue.timeline.reaction):
            self.slack.custom_emoji.add(catalogue.timeline.reaction)
        self.pagerduty = PagerDutyEmulator(
            seed=seed, services=[(s.pagerduty_service_id, s.name) for s in catalogue.services], faults=self.faults,
            api_token=keys.pagerduty_api_token, webhook_secrets=keys.pagerduty_webhook_secrets,
            clock=self.clock.now,  # incidents happen at the sandbox's time, which the clock control moves
            validator=load_pagerduty_validator() if validate_openapi else None,
            rate_limit_per_minute=int(pagerduty_rate_limit * rate_limit_scale) if rate_limit_scale > 0 else 0)

        groups = sorted({t.servicenow_group for t in catalogue.teams if t.servicenow_group} | {"Service Desk"})
        self.servicenow = ServiceNowEmulator(groups=groups, faults=self.faults, username=SERVICENOW_USER,
                                             password=keys.servicenow_password,
                                             webhook_secret=keys.servicenow_webhook_secret,
                                             clock=self.clock.now)  # work notes stamped at the sandbox's time
        self.page = SandboxPage(self)

    def add_routes(self, app: web.Application) -> None:
        self.slack.add_routes(app)
        self.pagerduty.add_routes(app)
        self.servicenow.add_routes(app)
        self.page.add_routes(app)  # GET /: the sandbox as a Slack-like page, live
        app.router.add_get("/sandbox/state", self._state)
        app.router.add_post("/sandbox/clock", self._move_clock)
        app.router.add_get("/sandbox/faults", self._list_faults)
        app.router.add_post("/sandbox/faults", self._add_fault)
        app.router.add_delete("/sandbox/faults", self._clear_faults)

    def connect(self, bot_url: str, emulators_url: str) -> None:
        """Tell the emulators where the bot is (as a Slack app's config and a PagerDuty subscription would) and
        where they themselves are reachable (for response_url and html_url links)."""
        self.slack.bot_events_url = f"{bot_url}/slack/events"
        self.slack.public_url = emulators_url
        self.pagerduty.webhook_url = f"{bot_url}/pagerduty/webhook"
        self.pagerduty.public_url = emulators_url
        self.servicenow.webhook_url = f"{bot_url}/servicenow/webhook"
        self.servicenow.integration_user = self.servicenow.username  # the README's third property
        self.servicenow.public_url = emulators_url

    def bot_settings(self, emulators_url: str, db_path: Path, port: int, rate_limit_scale: float,
                     socket_mode: bool = False, database_url: str | None = None) -> Settings:
        return Settings(
            slack_bot_token=self.keys.slack_bot_token, slack_signing_secret=self.keys.slack_signing_secret,
            slack_app_token=self.keys.slack_app_token if socket_mode else None,
            slack_api_url=f"{emulators_url}/sandbox/slack/api/",
            slack_rate_limit_scale=rate_limit_scale, pagerduty_api_token=self.keys.pagerduty_api_token,
            pagerduty_webhook_secrets=self.keys.pagerduty_webhook_secrets,
            pagerduty_api_url=f"{emulators_url}/sandbox/pagerduty/api", catalogue_path=Path("(sandbox)"),
            db_path=db_path, database_url=database_url, port=port, log_level="INFO",
            servicenow=ServiceNowAccess(f"{emulators_url}/sandbox/servicenow", SERVICENOW_USER,
                                        self.keys.servicenow_password, self.keys.servicenow_webhook_secret))

    def state(self) -> dict[str, Any]:
        return {"slack": self.slack.snapshot(), "pagerduty": self.pagerduty.snapshot(),
                "servicenow": self.servicenow.snapshot(), "faults": self.faults.snapshot(),
                "latency_ms": dict(self.faults.latency_ms)}

    def slack_channel_for(self, html_url: str) -> Channel | None:
        """Where a PagerDuty incident is followed in Slack, found as a person would: the channel whose topic or
        pinned card links to it (its own incident channel first), else one with a message linking to it."""
        channels = sorted(self.slack.channels.values(), key=lambda c: not c.name.startswith("inc-"))
        for channel in channels:
            pinned = [channel.messages[p.ts] for p in channel.pins if p.ts in channel.messages]
            if html_url in channel.topic + json.dumps([[m.text, m.blocks] for m in pinned]):
                return channel
        return next((c for c in channels for m in c.messages.values()
                     if not m.ephemeral_to and html_url in m.text + json.dumps(m.blocks)), None)

    async def wait_for_slack(self, incident: dict[str, Any]) -> dict[str, Any]:
        """After the trigger route: wait (at most TRIGGER_WAIT_SECONDS) until the bot has made the incident's card,
        so that a command sent straight after the trigger finds the channel. Answers `{"slack_channel": name}`
        (null if the bot did not get there in time)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TRIGGER_WAIT_SECONDS
        while True:
            channel = self.slack_channel_for(str(incident.get("html_url")))
            # An incident channel is ready once its card is pinned; a card shared in a team channel is not pinned.
            ready = channel is not None and (bool(channel.pins) or not channel.name.startswith("inc-"))
            if ready or loop.time() >= deadline:
                return {"slack_channel": channel.name if channel is not None else None}
            await asyncio.sleep(0.05)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock (the bot's too, when it runs in the sandbox) forward, and let the bot look at
        what has become due: retries waiting on backoff, outages that have ended."""
        self.clock.advance(timedelta(seconds=seconds))
        for wake in self.on_clock_moved:
            wake()

    async def _move_clock(self, request: web.Request) -> web.Response:
        """`{"advance_seconds": 600}` moves the clock forward; `{"set": "2026-11-27T08:59:30+00:00"}` jumps to an
        instant (a fresh sandbox may go back, e.g. to a daylight-saving change). Answers once the bot has looked
        at what became due (handovers queued), with the new time."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            if "set" in body:
                moment = datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    raise ValueError("give the time with its UTC offset, e.g. 2026-11-27T08:59:30+00:00")
                self.clock.set(moment)
                self.advance(0)
            else:
                seconds = float(body["advance_seconds"])
                if seconds < 0:
                    raise ValueError("the clock only moves forward; use {\"set\": \"<ISO time>\"} to jump")
                self.advance(seconds)
        except (ValueError, KeyError, TypeError) as error:
            return web.json_response({"error": f"bad clock move: {error}; send {{\"advance_seconds\": 600}} or "
                                               "{\"set\": \"2026-11-27T08:59:30+00:00\"}"}, status=400)
        for after in self.after_clock_moved:
            await after()
        return web.json_response({"now": self.clock.now().isoformat()})

    async def _add_fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            if body.get("service") not in SERVICES:
                raise ValueError(f"service must be one of {', '.join(SERVICES)}, not {body.get('service')!r}")
            if "latency_ms" in body and "method" not in body and "status" not in body:
                self.faults.latency_ms[str(body["service"])] = int(body["latency_ms"])
            else:
                until = (self.clock.now().timestamp() + float(body["for_seconds"])) if "for_seconds" in body else None
                # Slack refuses with its JSON at 200; PagerDuty and ServiceNow answer their error bodies at a 4xx/5xx.
                refusal = body.get("error") and body["service"] == "slack"
                self.faults.add(Fault(service=str(body["service"]), method=str(body.get("method", "*")),
                                      status=int(body.get("status", 200 if refusal else 500)),
                                      times=int(body.get("times", 1)), error=str(body.get("error", "")),
                                      latency_ms=int(body.get("latency_ms", 0)),
                                      retry_after=int(body.get("retry_after", 1)), until=until,
                                      after=bool(body.get("after", False)),
                                      with_field=str(body.get("with_field", "")),
                                      with_text=str(body.get("with_text", ""))))
        except (ValueError, KeyError, TypeError) as error:
            return web.json_response({"error": f"bad fault: {error}; send {{\"service\": \"slack\", "
                                               "\"method\": \"chat.postMessage\", \"status\": 500, \"times\": 2}"},
                                     status=400)
        return web.json_response(self._faults_in_force(), status=201)

    async def _list_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults_in_force())

    def _faults_in_force(self) -> dict[str, Any]:
        """The rules still in force (spent ones dropped) and each service's added latency: what POST answers too."""
        return {"faults": self.faults.snapshot(), "latency_ms": dict(self.faults.latency_ms)}

    async def _clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"faults": []})

    async def close(self) -> None:
        await self.page.close()
        await self.slack.close()
        await self.pagerduty.close()
        await self.servicenow.close()


@dataclass
class RunningSandbox:
    """A sandbox and its bot, serving on one port."""

    url: str
    sandbox: Sandbox
    bot: Bot
    runner: web.AppRunner
    socket_mode: AsyncSocketModeHandler | None = None

    async def stop(self) -> None:
        if self.socket_mode is not None:  # as `serve` does: the answers Slack waits for first (bot/app/web.py)
            await close_socket_mode(self.bot, self.socket_mode)
        # The bot first, while this server still listens: its emulators answer here, and what its stop drains (an
        # answer, an App Home being gathered) still calls them. Stopped after the server, that work found the port
        # closed, and a connection it opened as the server closed could be left unclosed. The web app's cleanup
        # asks again for the stop, done by then.
        try:
            await self.bot.stop()
        finally:
            await self.sandbox.close()
            await self.runner.cleanup()


async def serve_sandbox(catalogue: Catalogue, db_path: Path, *, host: str = "127.0.0.1", port: int = 3000,
                        rate_limit_scale: float = 1.0, validate_openapi: bool = True,
                        retry_policy: RetryPolicy | None = None, keys: SandboxSecrets | None = None,
                        socket_mode: bool = False, clock: SettableClock | None = None,
                        faults: Sequence[Fault] = (), database_url: str | None = None) -> RunningSandbox:
    """Bind the port first (port 0 picks a free one), then build the bot pointing at its own emulators. `faults` are
    in force before the bot starts (Slack slow or refusing while the bot starts, as in a restart during an outage).
    `database_url`: the bot's store is that PostgreSQL database, not SQLite at `db_path`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    url = f"http://{host}:{sock.getsockname()[1]}"
    sandbox = Sandbox(catalogue, keys or SandboxSecrets.from_env(), rate_limit_scale=rate_limit_scale,
                      validate_openapi=validate_openapi, clock=clock)
    for fault in faults:
        sandbox.faults.add(fault)
    settings = sandbox.bot_settings(url, db_path, sock.getsockname()[1], rate_limit_scale, socket_mode, database_url)
    bot = Bot(settings, catalogue, retry_policy=retry_policy, clock=sandbox.clock)
    sandbox.on_clock_moved += [bot.dispatcher.wake, bot.worker.wake]
    if bot.servicenow_credentials is not None:  # a refused ServiceNow is asked again on the sandbox's time
        sandbox.on_clock_moved.append(bot.servicenow_credentials.wake)
    sandbox.after_clock_moved.append(bot.handovers.tick_all_and_wait)
    sandbox.after_clock_moved.append(bot.archive_resolved_channels)  # channels due to be archived, on the new time
    sandbox.after_clock_moved.append(bot.toolkit.remind_due)  # status updates now overdue get their reminder
    # Socket Mode connects to this same server, so it can only start once the server is listening (below).
    app = build_web_app(bot, socket_mode=False)
    app[SANDBOX_KEY] = sandbox
    # One process with the bot beside the emulators: the trigger route can wait until the incident is in Slack.
    sandbox.pagerduty.after_trigger = sandbox.wait_for_slack
    sandbox.add_routes(app)
    sandbox.connect(url, url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    handler = await open_socket_mode(bot) if socket_mode else None
    return RunningSandbox(url, sandbox, bot, runner, handler)


async def seed_running(running: RunningSandbox) -> tuple[int, int]:
    """`pavedroad sandbox --history`: the synthetic history goes into the sandbox's PagerDuty, and the bot imports
    it from there through PagerDuty's REST API — the same path as `pavedroad history import` on a real account.
    Returns how many incidents and deploys the bot's store took in."""
    history = synthetic_history(running.sandbox.catalogue)
    running.sandbox.pagerduty.history.add(history.incidents, history.deploys)
    start, end = synthetic_span()
    with client_for(running.sandbox.keys.pagerduty_api_token, f"{running.url}/sandbox/pagerduty/api") as client:
        imported = await asyncio.to_thread(fetch_history, client, start, end)
    return await running.bot.store.add_history(imported.incidents, imported.deploys, time.time())
