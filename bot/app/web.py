"""The aiohttp application: the bot's routes, and the hooks that start and stop it with the server.

Routes: POST /pagerduty/webhook, POST /servicenow/webhook, POST /slack/events, GET /healthz, GET /readyz,
GET /metrics. Every route answers 4xx, with a one-line reason, for what the client got wrong (401 a request whose
signature or timestamp cannot be verified, 400 a signed body that does not read, 413 too big) and keeps 5xx for our
own failures (the store down: 503, so the sender retries), logged with a reference that the answer quotes — but for
a Slack listener's deliberate 500 (`SENT_AGAIN`: the store refused to record an event, so Slack is to send it again),
which its listener logged already, as a WARNING.

While the bot stops (commands/in_flight.py), new requests are refused so that their senders send them again, and
nothing is stored: a webhook gets 503 (PagerDuty and ServiceNow deliver it again, to another replica or to this one
restarted), a Slack request 503 too (Slack sends an event again; a click or a form shows the person Slack's error),
and a command an answer in words (Slack never sends it again). Requests in flight are registered there, so the stop
waits for them before it closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.adapters.slack.requests import SENT_AGAIN, SlackRequests
from bot.app.readiness import CHECK_SECONDS
from bot.app.runtime import Bot
from bot.app.socket_mode import SocketModeConnection
from bot.errors import DeliveryError
from bot.services.intake import MAX_BODY_BYTES, Received, Rejected
from commands.in_flight import STOPPING, Work

log = logging.getLogger(__name__)
BOT_KEY = web.AppKey("bot", Bot)
SLACK_DOOR_KEY = web.AppKey("slack_door", SlackRequests)
SOCKET_MODE_KEY = web.AppKey("socket_mode", SocketModeConnection)
# On SIGTERM the server stops listening, then waits this long for the requests in flight (each is short: Slack is
# answered within 3 s, a webhook once stored, /readyz within 4 s) before the bot's own stop (bot/app/stopping.py
# DRAIN_SECONDS, which counts this in Kubernetes' grace period); aiohttp's default is 60 s.
HTTP_SHUTDOWN_SECONDS = 5.0
# On stopping, how long the Socket Mode connection stays open for the answers Slack still waits for (close_socket_mode):
# Slack's deadline for an answer, 3 s.
ACK_SECONDS = 3.0


def build_web_app(bot: Bot, *, manage_lifecycle: bool = True, socket_mode: bool = True) -> web.Application:
    """The bot's HTTP app. With `manage_lifecycle` the bot starts and stops with the server; with `socket_mode`
    (and SLACK_APP_TOKEN set) Slack traffic also arrives over a Socket Mode connection opened in the background from
    start-up (bot/app/socket_mode.py), so that the routes are served whatever Slack says of the token."""
    # Bodies above PagerDuty's 256 KB limit are refused by our own check with a clear reason, so let aiohttp
    # read a little more than that before it gives its own 413.
    app = web.Application(client_max_size=MAX_BODY_BYTES * 4)
    app[BOT_KEY] = bot
    app[SLACK_DOOR_KEY] = SlackRequests(bot.settings.slack_signing_secret)
    app.router.add_post("/pagerduty/webhook", pagerduty_webhook)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/servicenow/webhook", servicenow_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if manage_lifecycle:
        app.cleanup_ctx.append(_lifecycle)
    if socket_mode and bot.settings.socket_mode:
        app[SOCKET_MODE_KEY] = SocketModeConnection(bot.slack_app, bot.settings.slack_app_token or "")
        app.cleanup_ctx.append(_socket_mode)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    bot = app[BOT_KEY]
    await bot.start()
    yield
    await bot.stop()


async def _socket_mode(app: web.Application) -> AsyncIterator[None]:
    connection = app[SOCKET_MODE_KEY]
    # Not awaited here: cleanup_ctx runs before the site binds, and a token Slack refuses was asked again for ever,
    # so the port (PagerDuty's webhooks, the health checks) never opened.
    connecting = asyncio.create_task(connection.connect())
    connecting.add_done_callback(_said_if_failed)
    yield
    connecting.cancel()  # still asking Slack, or connecting: nothing to wait for
    with contextlib.suppress(asyncio.CancelledError):
        await connecting
    if connection.handler is not None:
        await close_socket_mode(app[BOT_KEY], connection.handler)


def _said_if_failed(connecting: asyncio.Task[AsyncSocketModeHandler]) -> None:
    """Socket Mode's connecting ended by an error of ours: said, never silently (Slack's commands stop arriving)."""
    if not connecting.cancelled() and (error := connecting.exception()) is not None:
        log.error("Socket Mode stopped connecting (%s): Slack's commands, clicks and events no longer reach this "
                  "replica; restart it", error, exc_info=error)


async def close_socket_mode(bot: Bot, handler: AsyncSocketModeHandler) -> None:
    """Close the Socket Mode connection of a bot beginning to stop: first no new work, then the requests Bolt has in
    hand are answered on the connection (a form closed or its refusal shown once its check ends, commands/
    form_checks.py), for at most ACK_SECONDS, Slack's own deadline. Closed at once, those answers were lost: Slack
    showed the person its error while the bot went on to act, and they sent it again. Slack sends new requests to the
    other replicas' connections once this one is closed; until then they are refused (commands/in_flight.py)."""
    await bot.in_flight.acknowledged(ACK_SECONDS)
    await asyncio.sleep(0)  # Bolt's adapter sends the answer once the dispatch returns: one turn of the loop
    await handler.close_async()  # type: ignore[no-untyped-call]


async def open_socket_mode(bot: Bot) -> AsyncSocketModeHandler:
    """Connect to Slack over Socket Mode (commands, clicks and events then come over a WebSocket the bot opens;
    PagerDuty's webhooks still need the HTTP routes), returning once connected (the sandbox, whose server is already
    listening)."""
    return await SocketModeConnection(bot.slack_app, bot.settings.slack_app_token or "").connect()


class _Intake(Protocol):
    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Received: ...


async def pagerduty_webhook(request: web.Request) -> web.Response:
    return await _receive(request, request.app[BOT_KEY].intake, "pagerduty", "PagerDuty", id_field="event_id")


async def servicenow_webhook(request: web.Request) -> web.Response:
    intake = request.app[BOT_KEY].servicenow_intake
    if intake is None:
        return web.json_response({"error": "ServiceNow is not configured on this bot (SERVICENOW_INSTANCE_URL)"},
                                 status=404)
    return await _receive(request, intake, "servicenow", "the business rule", id_field="delivery")


async def _receive(request: web.Request, intake: _Intake, source: str, sender: str, *, id_field: str) -> web.Response:
    """Store a webhook delivery, then answer: 202 stored, 200 duplicate (or an echo of the bot's own write, not
    stored), 4xx with a one-line reason, 503 (so the sender retries) if it could not be stored or the bot is
    stopping."""
    in_flight = request.app[BOT_KEY].in_flight
    if not in_flight.taking:
        log.info("%s webhook refused (503): the bot is stopping, %s will deliver it again", source, sender)
        return web.json_response({"error": f"{STOPPING}; {sender} will retry it"}, status=503,
                                 headers={"Retry-After": "5"})
    with in_flight.under_way(Work(f"{sender}'s webhook being stored")):
        return await _store(request, intake, source, sender, id_field=id_field)


async def _store(request: web.Request, intake: _Intake, source: str, sender: str, *, id_field: str) -> web.Response:
    bot = request.app[BOT_KEY]
    started = time.perf_counter()
    outcome = "stored"
    try:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise Rejected(413, f"body is {request.content_length} bytes; at most {MAX_BODY_BYTES} are accepted")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Rejected(413, f"body is over {MAX_BODY_BYTES} bytes, the most accepted") from None
        received = await intake.receive(body, request.headers)
        outcome = "echo" if received.echo else "duplicate" if received.duplicate else "stored"
    except Rejected as rejected:
        outcome = f"rejected_{rejected.status}"
        log.warning("%s webhook rejected (%s): %s", source, rejected.status, rejected.reason)
        return web.json_response({"error": rejected.reason}, status=rejected.status)
    except Exception:
        outcome = "error"
        reference = uuid.uuid4().hex[:8]
        log.exception("%s webhook could not be stored (reference %s)", source, reference)
        return web.json_response({"error": f"could not store the delivery (reference {reference}); {sender} "
                                           "will retry it"}, status=503)
    finally:
        bot.metrics.webhook_seconds.labels(source, outcome).observe(time.perf_counter() - started)
    if received.echo:
        return web.json_response({"status": "ignored", id_field: received.event_id,
                                  "reason": "an update the bot made itself (its integration user's)"}, status=200)
    if received.duplicate:
        return web.json_response({"status": "duplicate", id_field: received.event_id}, status=200)
    return web.json_response({"status": "accepted", id_field: received.event_id}, status=202)


def _bolt_request(text: str, query: str, headers: dict[str, str | Sequence[str]]) -> AsyncBoltRequest:
    """Bolt's request for this body. Bolt reads any form whose text merely contains the word "payload" as a click
    and, finding no `payload` field, routes an empty body ("/incident note the payload was malformed" answered 404):
    a form without that field is read as the form it is."""
    bolt_request = AsyncBoltRequest(body=text, query=query, headers=headers)
    is_form = bolt_request.content_type != "application/json" and not text.startswith("{")
    if is_form and "payload" in text:
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" not in form:
            bolt_request.body = form
            bolt_request.context = build_async_context(AsyncBoltContext({}), form)
    return bolt_request


async def slack_events(request: web.Request) -> web.Response:
    """Slack's commands, clicks, forms and events: checked at the door (bot/adapters/slack/requests.py), then handed
    to Bolt, which verifies the signature again and runs the listeners."""
    bot, door = request.app[BOT_KEY], request.app[SLACK_DOOR_KEY]
    body = await request.read()
    try:
        door.check_signature(body, request.headers)
    except DeliveryError as error:
        return _refused("slack", 401, str(error))
    try:
        text = door.read(body, request.headers)
        bolt_request = _bolt_request(text, request.query_string, {**request.headers})
    except DeliveryError as error:
        return _refused("slack", 400, str(error))
    except Exception as error:  # Bolt could not read a body the door let through: still the body's fault
        return _refused("slack", 400, f"Bolt cannot read this request ({error.__class__.__name__})")
    try:
        # A DrainingApp (commands/in_flight.py): refused while the bot stops, else under way until its listener runs.
        response = await bot.slack_app.async_dispatch(bolt_request)
    except Exception:
        return _our_failure("slack request failed", "Slack")
    if response.status == 503 and not bot.in_flight.taking:  # the stop began while Bolt had it: refused (in_flight)
        return await to_aiohttp_response(response)
    if response.status >= 500 and response.headers.pop(SENT_AGAIN, None) is not None:
        return await to_aiohttp_response(response)  # deliberate, and its listener said why (a WARNING: Slack resends)
    if response.status >= 500:  # Bolt caught a failure of ours (a listener, Slack's API) and logged it
        return _our_failure("slack request failed inside Bolt (its log above has the cause)", "Slack", trace=False)
    if response.status == 404 and _an_event(text):
        # An event no listener takes (app_rate_limited, which Slack sends whatever the app subscribes to; an event
        # type added in the app's settings): received, nothing to do. A 404 is retried, and disables subscriptions.
        log.debug("slack: an event the bot does not handle, acknowledged")
        return web.Response(status=200)
    return await to_aiohttp_response(response)


def _an_event(text: str) -> bool:
    """Whether a Slack request's body is an Events API delivery (not a command or a click, whose 404 is theirs)."""
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") in ("event_callback", "app_rate_limited")


def _refused(source: str, status: int, reason: str) -> web.Response:
    log.warning("%s request refused (%s): %s", source, status, reason)
    return web.json_response({"error": reason}, status=status)


def _our_failure(what: str, sender: str, *, trace: bool = True) -> web.Response:
    reference = uuid.uuid4().hex[:8]
    log.error("%s (reference %s)", what, reference, exc_info=trace)
    return web.json_response({"error": f"something went wrong on our side (reference {reference}); {sender} may "
                                       "retry"}, status=500)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    report = await request.app[BOT_KEY].readiness()
    connection = request.app.get(SOCKET_MODE_KEY)
    if connection is not None and "stopping" not in report:  # said, never a reason to be unready: intake needs none
        report["socket_mode"] = await connection.state()
    return web.json_response(report, status=200 if report["ready"] else 503)


async def metrics(request: web.Request) -> web.Response:
    bot = request.app[BOT_KEY]
    try:
        # Bounded as /readyz is: a database that hangs must not hang the scrape that would show the outage.
        async with asyncio.timeout(CHECK_SECONDS):
            depths = await bot.store.depths()
    except Exception as error:  # the database is down: the process's own metrics still count (and say so)
        log.warning("metrics: the queue depths are unknown, the store does not answer (%s)",
                    error.__class__.__name__)
    else:
        bot.metrics.inbox_depth.set(depths["inbox_pending"])
        bot.metrics.outbox_depth.set(depths["outbox_pending"])
        bot.metrics.dead_effects.set(depths["outbox_dead"])
        bot.metrics.failed_events.set(depths["inbox_failed"])
    return web.Response(body=bot.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})
