"""The bot's webhook endpoint as a test double for the emulator tests: it records what an emulator sends (once the
caller's check of the signature passed) and answers with the statuses it is told, then with its usual one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer, in order; then the usual one

    def payloads(self) -> list[dict[str, Any]]:
        return [r.payload for r in self.received]


R = TypeVar("R", bound=Receiver)


@asynccontextmanager
async def serving(receiver: R, path: str, check: Callable[[web.Request, bytes], None],
                  usual_status: int) -> AsyncIterator[R]:
    """Serve `receiver` on `path` (port 0) for as long as the block runs; `check` asserts on each request."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        check(request, body)
        receiver.received.append(Received(dict(request.headers), body))
        return web.Response(status=receiver.answers.pop(0) if receiver.answers else usual_status)

    app = web.Application()
    app.router.add_post(path, webhook)
    server = TestServer(app, port=0)
    await server.start_server()
    receiver.url = str(server.make_url(path))
    try:
        yield receiver
    finally:
        await server.close()
