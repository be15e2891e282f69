"""Local emulator of the Slack Web API: the HTTP side of the sandbox workspace and the contracts Slack enforces on it.

`SlackEmulator` is what the host builds and serves: the workspace (`workspace.py`) with the Web API under
`/sandbox/slack/api/{method}` and the interaction response URLs under `/sandbox/slack/response/{id}`. This module owns
reading a call (query, form or JSON body), token types (the bot token for everything but `apps.connections.open`,
which takes only the app-level token; a token revoked or of an uninstalled app is refused, `installation.py`), rate
limits (`rate_limits.py`), injected faults, and routing a call to its method (`methods/`, and `files.py` for
uploads). A request real Slack would reject is rejected with Slack's error code. Acting as a Slack user towards the
bot (slash commands, button clicks, modal submissions) is `user.py`'s, a person's messages and reactions and the
Events API events they give the app `person.py`'s, a person inviting into, unpinning in and renaming a channel
`channel_acts.py`'s; the Socket Mode WebSocket that `apps.connections.open` points the
bot at is `socket_mode.py`'s.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

from aiohttp import web

from bot.catalogue import SandboxPerson
from sandbox.faults import Fault, Faults
from sandbox.hangups import hangups_told
from sandbox.slack import channel_acts, installation, person
from sandbox.slack.files import SlackFiles
from sandbox.slack.home import HomeTabs
from sandbox.slack.methods import chat, conversations, users, views
from sandbox.slack.model import BOT_NAME, JSON, TEAM_NAME, Args, SlackApiFailure
from sandbox.slack.rate_limits import SlackRateLimits
from sandbox.slack.user import SlackUserActions
from sandbox.slack.workspace import SlackWorkspace

RESPONSE_URL_LIFETIME = 30 * 60.0  # response_url: up to five uses within thirty minutes
RESPONSE_URL_USES = 5
# Methods authorised by the app-level token (xapp-...) instead of the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_WEB_API = {**conversations.METHODS, **chat.METHODS, **users.METHODS, **views.METHODS}
log = logging.getLogger(__name__)


class SlackEmulator(SlackWorkspace):
    """The sandbox Slack workspace and its Web API. With `app_token` set the bot may connect in Socket Mode instead
    of receiving POSTs at `bot_events_url`, and while it holds a connection deliveries go over it."""

    def __init__(self, *, people: Sequence[SandboxPerson], channels: Sequence[str], faults: Faults,
                 bot_token: str, signing_secret: str, rate_limit_scale: float = 1.0,
                 clock: Callable[[], float] = time.time, bot_name: str = BOT_NAME,
                 settle_seconds: float = 1.5, quiet_seconds: float = 0.3, ack_timeout_seconds: float = 3.0,
                 public_url: str | None = None, app_token: str | None = None) -> None:
        super().__init__(people=people, channels=channels, signing_secret=signing_secret, clock=clock,
                         bot_name=bot_name, settle_seconds=settle_seconds, quiet_seconds=quiet_seconds,
                         ack_timeout_seconds=ack_timeout_seconds, public_url=public_url)
        self.faults = faults
        self.bot_token = bot_token
        self.app_token = app_token  # the app-level token (xapp-...); None: the app has no Socket Mode
        self.calls: Counter[str] = Counter()
        self._limits = SlackRateLimits(rate_limit_scale, clock)
        self._user_actions = SlackUserActions(self)
        self.files = SlackFiles(self)
        self.home = HomeTabs(self)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/sandbox/slack/api/{method}", hangups_told(self._handle_api, log))
        app.router.add_route("POST", "/sandbox/slack/api/{method}", hangups_told(self._handle_api, log))
        app.router.add_post("/sandbox/slack/response/{id}", self._handle_response_url)
        self._user_actions.add_routes(app)
        person.add_routes(app, self)
        channel_acts.add_routes(app, self)
        installation.add_routes(app, self)
        self.files.add_routes(app)
        self.home.add_routes(app)
        self.socket_mode.add_routes(app)

    # ----- the Web API --------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self.calls[method] += 1
        self.touch()
        try:
            # The call in hand before it is held: carried out if its caller hangs up (hangups.py). Its arguments, not
            # its bytes: aiohttp parses a multipart body once, and keeps what it parsed.
            fields = await _arg_values(request)
            await self.faults.delay("slack", method, request.method, fields)
            fault = self.faults.take("slack", method, request.method, fields)
            if fault is not None and not fault.after:
                return _fault_response(fault)
            handler = self._method(method, self.public_url or str(request.url.origin()))
            if handler is None:
                return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
            answered = await self._answer(request, method, handler)
            if fault is not None:  # carried out, and its answer lost on the way back (Slack's edge timing out)
                return _fault_response(fault)
            return answered
        finally:
            self.touch()  # a slow call (injected latency) is activity until it is answered

    def _method(self, method: str, base_url: str) -> Callable[[Args], JSON] | None:
        """The handler for `method`; `base_url` is the host the bot called, where the URLs some methods answer
        with point (the Socket Mode WebSocket, a file's upload URL)."""
        if method == "apps.connections.open":
            return lambda args: {"url": self.socket_mode.issue_url(base_url)}
        if method == "files.getUploadURLExternal":
            return self.files.get_upload_url(base_url)
        if method == "files.completeUploadExternal":
            return self.files.complete_upload_external
        if method == "views.publish":
            return self.home.publish
        handler = _WEB_API.get(method)
        return None if handler is None else lambda args: handler(self, args)

    async def _answer(self, request: web.Request, method: str, handler: Callable[[Args], JSON]) -> web.Response:
        try:
            args = Args(await _read_args(request))
            self._authenticate(method, _bearer(request), args.text("token"))
            retry_after = self._rate_limit(method, args)
            if retry_after is not None:
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": str(retry_after)})
            body: JSON = {"ok": True, **handler(args)}
        except SlackApiFailure as failure:
            body = {"ok": False, "error": failure.error, **failure.extra}
        return web.json_response(body)

    def _authenticate(self, method: str, bearer: str | None, form_token: str | None) -> None:
        """Slack's token checks: the right token for the method, else the error Slack names."""
        if method in _APP_TOKEN_METHODS:
            # Slack reads the app-level token only from the Authorization header for these methods.
            if not bearer:
                raise SlackApiFailure("not_authed")
            if bearer == self.bot_token:
                raise SlackApiFailure("not_allowed_token_type")
            if self.app_token is None or bearer != self.app_token:
                raise SlackApiFailure("invalid_auth")
            return
        token = bearer or form_token
        if not token:
            raise SlackApiFailure("not_authed")
        if self.app_token is not None and token == self.app_token:
            raise SlackApiFailure("not_allowed_token_type")  # an app-level token cannot act as the bot
        if token in self.refused_tokens:  # revoked, or the app uninstalled
            raise SlackApiFailure(self.refused_tokens[token])
        if token != self.bot_token:
            raise SlackApiFailure("invalid_auth")

    def _rate_limit(self, method: str, args: Args) -> int | None:
        if method != "chat.postMessage":
            return self._limits.retry_after(method)
        ref = args.text("channel") or ""
        channel = self.find_channel(ref)
        return self._limits.retry_after(method, channel.id if channel else ref)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        self.touch()
        interaction = self.interaction(request.match_info["id"])
        if interaction is None or self.clock() - interaction.created_at > RESPONSE_URL_LIFETIME:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        if interaction.uses >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        try:
            body = await _read_args(request)
            if isinstance(body.get("payload"), str):  # the legacy form encoding
                body = json.loads(body["payload"])
        except (SlackApiFailure, ValueError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        interaction.uses += 1
        interaction.response_url_posts.append(body)
        error = self.respond(interaction, body)
        if error:
            return web.json_response({"ok": False, "error": error}, status=400)
        return web.json_response({"ok": True})

    # ----- state for GET /sandbox/state ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        people = list(self.users.values())
        messages = sorted((m for c in self.channels.values() for m in c.messages.values()), key=lambda m: m.ts)
        return {
            "team": {"id": self.team_id, "domain": self.team_domain, "name": TEAM_NAME},
            "bot": {"user_id": self.bot.id, "bot_id": self.bot_id, "app_id": self.app_id, "name": self.bot.name},
            "users": [{"id": u.id, "name": u.name, "real_name": u.real_name, "email": u.email} for u in people],
            "channels": [{"id": c.id, "name": c.name, "topic": c.topic, "is_archived": c.is_archived,
                          "is_private": c.is_private, "is_im": c.is_im, "members": list(c.members),
                          "pins": [p.ts for p in c.pins], "created": c.created}
                         for c in self.channels.values()],
            "messages": [{"channel": m.channel, "ts": m.ts, "text": m.text, "blocks": copy.deepcopy(m.blocks),
                          "thread_ts": m.thread_ts, "edited": m.edited, "ephemeral_to": m.ephemeral_to,
                          "user": m.user, "metadata": copy.deepcopy(m.metadata),
                          "files": copy.deepcopy(m.files), "reactions": copy.deepcopy(m.reactions)}
                         for m in messages],
            "files": self.files.snapshot(),
            "views": [{**self.view_api(v), "user": v.user_id, "open": v.is_open, "errors": v.errors}
                      for v in self.views.values()],
            "home_views": self.home.snapshot(),
            "calls": dict(self.calls),
            "socket_mode": {"connections": self.socket_mode.connections},
        }


def _fault_response(fault: Fault) -> web.Response:
    if fault.status == 429:  # Slack's 429 always says when to come back, whatever words the fault gives it
        return web.json_response({"ok": False, "error": fault.error or "ratelimited"}, status=429,
                                 headers={"Retry-After": str(fault.retry_after)})
    if fault.error:  # Slack's own JSON refusal, e.g. a 200 invalid_auth in one of its outages
        return web.json_response({"ok": False, "error": fault.error}, status=fault.status)
    # Slack's edge answers outages with a small HTML page, not the Web API's JSON.
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(fault.status, "Error")
    return web.Response(status=fault.status, content_type="text/html",
                        text=f"<html><body><h1>{fault.status} {reason}</h1></body></html>")


async def _read_args(request: web.Request) -> JSON:
    """Merge the query string with a JSON or form body, as Slack accepts either (slack_sdk sends both kinds)."""
    args: JSON = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return args
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise SlackApiFailure("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackApiFailure("json_not_object")
        body.pop("token", None)  # a JSON body must authenticate with the Authorization header; Slack ignores this
        args.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif content_type in ("", "application/octet-stream") and not request.headers.get("Content-Type"):
        raise SlackApiFailure("missing_post_type")
    else:
        raise SlackApiFailure("invalid_post_type")
    return args


async def _arg_values(request: web.Request) -> JSON:
    """The arguments a call sets, read as it arrives (for fault rules `with_field`, e.g. "metadata": a card, not an
    operators' alert); a body Slack would refuse sets none (the refusal is the method's to give). aiohttp keeps the
    body, read again."""
    try:
        return await _read_args(request)
    except SlackApiFailure:
        return {}


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header.lower().startswith("bearer ") else None
