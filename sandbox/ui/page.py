"""The sandbox page: `GET /` of `pavedroad sandbox` and `pavedroad emulators`, a Slack-like workspace seen by one
person beside PagerDuty, ServiceNow, the clock and faults, kept live without reloading.

Routes (sandbox only):
  GET  /                              the page (server-rendered; `?as=<Slack user id>&channel=<channel id>`)
  GET  /sandbox/ui/parts              the page's parts as HTML in JSON, for the script to swap in
  GET  /sandbox/ui/events             server-sent events: `change` whenever the world may have changed
  POST /sandbox/ui/views/{id}/close   the person closes a modal (`{"user"}`), as Slack's Close button
  GET  /sandbox/ui/static/{name}      the page's script and style sheet (package data)
Everything the page does goes through the documented control routes (`/sandbox/slack/command`, `…/message`,
`…/action`, `…/view_submission`, `/sandbox/pagerduty/incidents…`, `/sandbox/clock`, `/sandbox/faults`). "May have
changed" is any request that is not a GET, seen by a middleware: every change in the world, the bot's calls to the
emulators included, arrives as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from importlib.resources import files
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from sandbox.lone_surrogates import shown
from sandbox.slack.model import Channel, SlackUser
from sandbox.ui import panels, slack_view
from sandbox.ui.world import World

STATIC = ("app.js", "style.css")
KEEP_ALIVE_SECONDS = 15.0
DEBOUNCE_SECONDS = 0.1  # a burst of calls (a card posted, pinned, a topic set) is one refresh


class WorldChanges:
    """A counter of requests that may have changed the world, and a way to wait for the next one."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._next: asyncio.Event | None = None

    def bump(self) -> None:
        self.version += 1
        if self._next is not None:
            self._next.set()
            self._next = None

    async def wait(self, at_most: float) -> None:
        if self._next is None:
            self._next = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._next.wait(), at_most)

    def close(self) -> None:
        self.closed = True
        self.bump()


class SandboxPage:
    def __init__(self, sandbox: World) -> None:
        self.sandbox = sandbox
        self.changes = WorldChanges()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/sandbox/ui/parts", self._parts)
        app.router.add_get("/sandbox/ui/events", self._events)
        app.router.add_post("/sandbox/ui/views/{id}/close", self._close_view)
        app.router.add_get("/sandbox/ui/static/{name}", self._static)
        app.middlewares.append(self._watch)

    async def close(self) -> None:
        self.changes.close()

    @web.middleware
    async def _watch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            if request.method != "GET":
                self.changes.bump()

    # ----- what the person sees -----------------------------------------------------------------------------------

    def _person(self, ref: str | None) -> SlackUser | None:
        slack = self.sandbox.slack
        user = slack.resolve_user(ref) if ref else None
        if user is not None and not user.is_bot:
            return user
        emails = {u.email.lower() for u in self.sandbox.pagerduty.account.users.values()}
        return slack_view.default_person(slack, emails)

    def _channel(self, person: SlackUser, ref: str | None) -> Channel | None:
        listed = slack_view.channels_for(self.sandbox.slack, person)
        # A newcomer starts where incidents are announced.
        start = self.sandbox.catalogue.channels.default_announce_channel.lstrip("#")
        return next((c for c in listed if c.id == ref), next((c for c in listed if c.name == start),
                                                             listed[0] if listed else None))

    def parts(self, person_ref: str | None, channel_ref: str | None) -> dict[str, Any]:
        slack = self.sandbox.slack
        person = self._person(person_ref)
        if person is None:
            return {"error": "the sandbox's Slack has nobody in it"}
        channel = self._channel(person, channel_ref)
        view = slack_view.top_view(slack, person)
        label = slack_view.channel_label(slack, channel, person) if channel else ""
        return {
            "person": person.id, "person_email": person.email or "", "channel": channel.id if channel else None,
            "placeholder": f"Message {label}", "version": self.changes.version,
            "sidebar": slack_view.sidebar(slack, person, channel),
            "messages": slack_view.channel_pane(slack, person, channel),
            "modal": slack_view.modal(slack, view),
            "modal_key": json.dumps([view.id, view.hash, view.errors]) if view else "",
            "pagerduty": panels.pagerduty_panel(self.sandbox, self._incident_channels()),
            "servicenow": panels.servicenow_panel(self.sandbox),
            "clock": panels.clock_panel(self.sandbox),
            "faults": panels.faults_panel(self.sandbox),
        }

    def _incident_channels(self) -> dict[str, str]:
        """Each shown PagerDuty incident's Slack channel (`sandbox.world.Sandbox.slack_channel_for`)."""
        pagerduty = self.sandbox.pagerduty
        found: dict[str, str] = {}
        for incident in sorted(pagerduty.account.incidents.values(), key=lambda i: -i.number)[:panels.SHOWN_INCIDENTS]:
            channel = self.sandbox.slack_channel_for(pagerduty.shapes.html_url(incident))
            if channel is not None:
                found[incident.id] = channel.id
        return found

    async def _page(self, request: web.Request) -> web.Response:
        parts = self.parts(request.query.get("as"), request.query.get("channel"))
        if "error" in parts:
            return web.Response(status=503, text=parts["error"])
        people = "".join(f'<option value="{html.escape(u.id)}"{" selected" if u.id == parts["person"] else ""}>'
                         f"{html.escape(u.real_name)}</option>" for u in self.sandbox.slack.users.values())
        boot = html.escape(json.dumps({k: parts[k] for k in ("person", "person_email", "channel", "modal_key",
                                                              "version")}))
        e = html.escape
        return web.Response(content_type="text/html", text=shown(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Paved Road sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/sandbox/ui/static/style.css"></head>
<body data-boot="{boot}">
<header class="top"><h1>Paved Road Sandbox</h1>
<label for="acting-as">Acting as</label> <select id="acting-as">{people}</select>
<p id="status" role="status" aria-live="polite"></p></header>
<div class="layout">
<aside id="sidebar">{parts["sidebar"]}</aside>
<main class="workspace"><div id="messages">{parts["messages"]}</div>
<form id="composer" class="composer"><textarea name="text" rows="2" aria-label="{e(parts["placeholder"])}"
placeholder="{e(parts["placeholder"])}"></textarea><button type="submit">Send</button></form></main>
<aside class="panels"><div id="pagerduty">{parts["pagerduty"]}</div><div id="servicenow">{parts["servicenow"]}</div>
<div id="clock">{parts["clock"]}</div><div id="faults">{parts["faults"]}</div></aside>
</div>
<div id="modal">{parts["modal"]}</div>
<script src="/sandbox/ui/static/app.js"></script>
</body></html>"""))

    async def _parts(self, request: web.Request) -> web.Response:
        return web.json_response(self.parts(request.query.get("as"), request.query.get("channel")))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        seen = self.changes.version
        try:
            await response.write(f"event: hello\ndata: {seen}\n\n".encode())
            while not self.changes.closed:
                await self.changes.wait(KEEP_ALIVE_SECONDS)
                if self.changes.closed:
                    break
                if self.changes.version == seen:
                    await response.write(b": keep-alive\n\n")
                    continue
                await asyncio.sleep(DEBOUNCE_SECONDS)
                seen = self.changes.version
                await response.write(f"event: change\ndata: {seen}\n\n".encode())
        except ConnectionResetError:
            pass  # the page was closed
        return response

    async def _close_view(self, request: web.Request) -> web.Response:
        """Slack's Close button: a pushed view goes back to the one under it; the root closes the stack."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        person = self.sandbox.slack.resolve_user(str((body or {}).get("user") or "")) if isinstance(body, dict) \
            else None
        view = self.sandbox.slack.find_view(request.match_info["id"])
        if person is None or view is None or view.user_id != person.id or not view.is_open:
            return web.json_response({"error": "no such open view for that person"}, status=404)
        view.is_open = False
        return web.json_response({"closed": view.id})

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        text = files("sandbox.ui").joinpath("static", name).read_text(encoding="utf-8")
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=text, content_type=kind, headers={"Cache-Control": "no-cache"})
