"""Slack's Socket Mode, emulated: the WebSocket that `apps.connections.open` hands the bot instead of Slack POSTing
to a public Request URL.

Owns the single-use tickets in the URLs `apps.connections.open` returns, the route `GET /sandbox/slack/socket` the
bot connects to, the open connections, and delivering one envelope over one of them and waiting for its ack.
Checking the app-level token is `emulator.py`'s; what goes in an envelope (the same payloads HTTP mode POSTs) is
`user.py`'s.

The protocol, as slack_sdk.socket_mode speaks it. On connecting the bot receives
  {"type": "hello", "num_connections", "connection_info": {"app_id"}, "debug_info": {"host"}}
then envelopes {"envelope_id", "type": "slash_commands"|"interactive"|"events_api", "payload",
"accepts_response_payload", "retry_attempt"?, "retry_reason"?}, each acknowledged by {"envelope_id", "payload"?}
within `ack_within` seconds (Slack's three). WebSocket pings are answered with pongs. `request_reconnect()` sends
{"type": "disconnect", "reason"}, as Slack does when it recycles a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

JSON = dict[str, Any]

SOCKET_PATH = "/sandbox/slack/socket"
_HOST = "applink-pavedroad-sandbox"  # shown in debug_info, where Slack names the server that holds the socket


@dataclass(frozen=True)
class SocketAck:
    """What came back for one envelope: the ack's payload (None when the ack carried none), or, when no ack came,
    `error` in the words the HTTP delivery uses ("operation_timeout", "dispatch_failed")."""

    payload: Any = None
    error: str | None = None


@dataclass(eq=False)
class _Connection:
    number: int
    ws: web.WebSocketResponse


class SocketModeServer:
    """The Socket Mode side of the sandbox workspace: one per emulator."""

    def __init__(self, *, app_id: str) -> None:
        self._app_id = app_id
        self._tickets: set[str] = set()
        self._connections: list[_Connection] = []
        self._pending: dict[str, asyncio.Future[SocketAck]] = {}
        self._numbers = itertools.count(1)
        self.opened = 0  # connections accepted so far, closed ones included
        self._turn = 0  # round-robin position among the open connections
        self._changed: asyncio.Condition | None = None  # created on first use, inside the running loop

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(SOCKET_PATH, self._socket)

    # ----- what the emulator and the control routes use ----------------------------------------------------------

    def issue_url(self, base_url: str) -> str:
        """A fresh WebSocket URL for `apps.connections.open`; `base_url` is where the bot reaches the emulator."""
        ticket = secrets.token_urlsafe(24)
        self._tickets.add(ticket)
        base = base_url.rstrip("/")
        for http, ws in (("https://", "wss://"), ("http://", "ws://")):
            if base.startswith(http):
                base = ws + base.removeprefix(http)
                break
        return f"{base}{SOCKET_PATH}?ticket={ticket}&app_id={self._app_id}"

    @property
    def connections(self) -> int:
        return len(self._open())

    @property
    def connected(self) -> bool:
        """True while the bot holds at least one open Socket Mode connection: Slack then delivers over it."""
        return bool(self._open())

    async def wait_for_connections(self, count: int = 1) -> None:
        """Return once at least `count` connections are open (a bot's connect returns before the server side has
        registered its socket, so a caller that must not race it waits here)."""
        await self.wait_until(lambda server: server.connections >= count)

    async def wait_until(self, predicate: Callable[[SocketModeServer], bool]) -> None:
        """Return once `predicate(self)` holds; it is checked whenever a connection opens or closes."""
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: predicate(self))

    async def deliver(self, envelope_type: str, payload: JSON, *, accepts_response_payload: bool, ack_within: float,
                      retry_attempt: int | None = None, retry_reason: str | None = None) -> SocketAck:
        """Send one envelope over one open connection and wait up to `ack_within` seconds for its ack."""
        connection = self._pick()
        if connection is None:
            return SocketAck(error="dispatch_failed")
        envelope_id = str(uuid.uuid4())
        envelope: JSON = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                          "accepts_response_payload": accepts_response_payload}
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
        if retry_reason is not None:
            envelope["retry_reason"] = retry_reason
        future: asyncio.Future[SocketAck] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = future
        try:
            try:
                await connection.ws.send_json(envelope)
            except (ConnectionError, RuntimeError):  # the socket closed between picking and sending
                return SocketAck(error="dispatch_failed")
            try:
                return await asyncio.wait_for(future, ack_within)
            except TimeoutError:  # Slack tells the user the app did not respond
                return SocketAck(error="operation_timeout")
        finally:
            self._pending.pop(envelope_id, None)

    async def request_reconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connected client to move to a new connection, as Slack does before it recycles one."""
        for connection in self._open():
            await self._send(connection, {"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}})

    async def close(self) -> None:
        """Close every connection (going away) and end the deliveries still waiting for an ack."""
        for future in self._pending.values():
            if not future.done():
                future.set_result(SocketAck(error="dispatch_failed"))
        for connection in list(self._connections):
            await connection.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"sandbox closing")
        self._tickets.clear()

    # ----- the WebSocket ------------------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            # A made-up or already used URL: the bot has to call apps.connections.open again.
            return web.Response(status=401, text="invalid or used ticket: call apps.connections.open for a new URL")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()  # autoping: a client's ping is answered with a pong echoing its data
        await ws.prepare(request)
        connection = _Connection(next(self._numbers), ws)
        try:
            # hello comes first, before any envelope can be routed to this connection.
            await ws.send_json({"type": "hello", "num_connections": self.connections + 1,
                                "connection_info": {"app_id": self._app_id}, "debug_info": {"host": _HOST}})
            self._connections.append(connection)
            self.opened += 1
            await self._notify()
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._acknowledge(message.data)
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-send; the connection is simply gone
        finally:
            if connection in self._connections:
                self._connections.remove(connection)
            await self._notify()
        return ws

    def _acknowledge(self, text: str) -> None:
        """An ack may arrive over any of the app's connections (a client that reconnected acks on its new one)."""
        try:
            message = json.loads(text)
        except ValueError:
            return  # Slack ignores what it cannot parse
        if not isinstance(message, dict):
            return
        future = self._pending.get(str(message.get("envelope_id")))
        if future is not None and not future.done():  # a late or repeated ack is ignored
            future.set_result(SocketAck(payload=message.get("payload")))

    # ----- helpers ------------------------------------------------------------------------------------------------

    def _open(self) -> list[_Connection]:
        return [c for c in self._connections if not c.ws.closed]

    def _pick(self) -> _Connection | None:
        """Slack gives each envelope to one of the app's connections; round-robin keeps every one exercised."""
        candidates = self._open()
        if not candidates:
            return None
        self._turn += 1
        return candidates[self._turn % len(candidates)]

    async def _send(self, connection: _Connection, message: JSON) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):  # closing already: nothing to tell it
            await connection.ws.send_json(message)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()
