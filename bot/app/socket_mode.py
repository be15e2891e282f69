"""Socket Mode's connection to Slack, made in the background: the HTTP routes (PagerDuty's and ServiceNow's webhooks,
/healthz, /readyz) are served whatever Slack says of the app-level token.

Bolt's handler (slack_sdk's SocketModeClient) asks `apps.connections.open` for a WebSocket URL inside `connect()`
and, refused, logs a traceback and asks again every ping interval, for ever. Awaited before the server bound its
port, a refused SLACK_APP_TOKEN kept `serve` from ever listening, and its log said nothing of what to fix. Here the
first URL is asked for by us: Slack's refusal of the token is said once, an ERROR naming the fix, and shown in
/readyz (`state()`); it is asked again with backoff (Slack has answered invalid_auth in its own outages), and once
Slack gives a URL the handler connects to it. Reconnections after that (Slack recycling a connection) are the SDK's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.adapters.slack.failures import failure
from bot.errors import IntegrationError

log = logging.getLogger(__name__)

# Backoff between asks, base·2ⁿ with jitter (replicas restarted together do not ask in step), capped: a minute while
# Slack fails, five minutes while it refuses the token (only a new token, and a restart, normally mend that).
BACKOFF_BASE_SECONDS = 1.0
FAILING_CAP_SECONDS = 60.0
REFUSED_CAP_SECONDS = 300.0
# Slack's answers to apps.connections.open that refuse the app-level token itself: asking at once cannot help.
REFUSALS = frozenset({"not_authed", "invalid_auth", "not_allowed_token_type", "missing_scope", "token_revoked",
                      "token_expired", "account_inactive"})
FIX = ("set SLACK_APP_TOKEN to an app-level token (xapp-…) with the connections:write scope, from the app's Basic "
       "Information page (App-Level Tokens), and restart the bot")


class SocketModeConnection:
    """One Socket Mode connection of the bot: `connect()` (run in the background), `state()` for /readyz, and
    `handler`, Bolt's, to close it with (None until Slack gave a URL)."""

    def __init__(self, app: AsyncApp, app_token: str) -> None:
        self._app, self._token = app, app_token
        self.handler: AsyncSocketModeHandler | None = None
        self.refused: str | None = None  # Slack's error refusing the token, until it gives a URL
        self.last_failure: str | None = None

    async def connect(self) -> AsyncSocketModeHandler:
        """Ask Slack for a WebSocket URL until it gives one, then connect to it. Returns Bolt's handler once
        connected; cancelled at the bot's stop."""
        attempt = 0
        while True:
            try:
                response = await self._app.client.apps_connections_open(app_token=self._token)
            except SlackApiError as error:
                # Read as every Slack answer is (a text/plain page or JSON that does not parse included): reading
                # `error.response` as a dict here once ended this task, and Socket Mode with it, silently.
                wait = self._answered(failure("apps.connections.open", error), attempt)
            except Exception as error:  # Slack out of reach (refused, timed out): said once per reason, asked again
                wait = self._failed(f"{error.__class__.__name__}: {error}", _backoff(attempt, FAILING_CAP_SECONDS))
            else:
                break
            attempt += 1
            await asyncio.sleep(wait)
        if self.refused is not None:
            log.info("Slack now accepts SLACK_APP_TOKEN: Socket Mode connects")
        self.refused = self.last_failure = None
        # Made now, inside the running loop (it opens an HTTP session and starts a task): the SDK's connect() uses
        # the URL given rather than asking for one itself.
        self.handler = _Handler(self._app, self._token)
        self.handler.client.wss_uri = str(response["url"])
        await self.handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("Socket Mode connected: Slack's commands, clicks and events arrive over the bot's WebSocket")
        return self.handler

    def _answered(self, said: IntegrationError, attempt: int) -> float:
        """Slack's answer refusing a URL: a refused token is an ERROR, once; anything else a failure (below)."""
        code, retry_after = said.code, said.retry_after
        if code in REFUSALS:
            if self.refused is None:  # said once: every ask is refused alike until the token is replaced
                log.error("Slack refuses SLACK_APP_TOKEN (apps.connections.open: %s): %s. Until then Slack's "
                          "commands, clicks and events do not reach the bot (Socket Mode); PagerDuty's webhooks and "
                          "the health routes are still served over HTTP; asking Slack again with backoff", code, FIX)
            self.refused = code
            return _backoff(attempt, REFUSED_CAP_SECONDS)
        wait = _backoff(attempt, FAILING_CAP_SECONDS)
        if retry_after is not None:
            wait = max(wait, retry_after)  # Slack's Retry-After wins when longer
        return self._failed(f"apps.connections.open: {code}" if code else said.detail, wait)

    def _failed(self, reason: str, wait: float) -> float:
        if reason != self.last_failure:
            log.warning("Socket Mode could not connect (%s); asking Slack again in the background", reason)
        self.last_failure = reason
        return wait

    async def state(self) -> dict[str, object]:
        """For /readyz, as its `slack` says of the bot token: whether Slack accepts SLACK_APP_TOKEN, and whether the
        connection is open."""
        if self.refused is not None:
            return {"app_token": "refused", "error": self.refused, "seen_on": "apps.connections.open", "fix": FIX}
        if self.handler is not None:
            return {"app_token": "accepted", "connected": await self.handler.client.is_connected()}
        return {"app_token": "not yet checked" if self.last_failure is None else "checking",
                "last_failure": self.last_failure}


class _Handler(AsyncSocketModeHandler):
    """Bolt's handler, but a request Bolt cannot read (an event whose `user` or `channel` is a number: its
    `extract_user_id` asks `"id" in 1.5`) is acknowledged and dropped, as bot/app/web.py refuses it 400 over HTTP.
    Bolt's own raised before any ack: Slack sent it again and again, each an ERROR with a traceback."""

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        start = time.time()
        try:
            bolt_req = AsyncBoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req))
        except Exception as error:
            log.warning("slack request refused over Socket Mode (Bolt cannot read it: %s); acknowledged, so Slack "
                        "does not send it again", error.__class__.__name__)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await send_async_response(client, req, await self.app.async_dispatch(bolt_req), start)


def _backoff(attempt: int, cap: float) -> float:
    delay = min(cap, BACKOFF_BASE_SECONDS * 2.0 ** min(attempt, 32))  # the exponent held: 2.0 ** 1024 is no float
    return random.uniform(delay / 2, delay)
