"""A load balancer in front of several bot replicas, as a deployment has one: `pavedroad emulators --bot-url A,B`.

Every delivery the emulators make — PagerDuty's webhooks, ServiceNow's business rule, Slack's commands, clicks and
events — is sent to `/sandbox/replicas/<path>` here and forwarded to the next replica in turn (round-robin). A replica
that refuses the connection (stopped, killed, not started yet) is skipped and the next one tried, as a load balancer
with health checks would route around it; only when every replica refuses does the sender get 502 (and retry, if its
rules say so). What a replica answers — 202, 401, 503 with Retry-After — goes back to the sender unchanged.
`GET /sandbox/replicas` shows how many deliveries each replica took and refused.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Sequence

import aiohttp
from aiohttp import web
from yarl import URL

log = logging.getLogger(__name__)
PREFIX = "/sandbox/replicas"
# Headers that belong to one hop (RFC 9110 §7.6.1), or that aiohttp sets itself from the body it sends.
HOP_HEADERS = frozenset({"host", "connection", "keep-alive", "proxy-connection", "te", "trailer",
                         "transfer-encoding", "upgrade", "content-length", "content-encoding"})


class Balancer:
    def __init__(self, bot_urls: Sequence[str], timeout_seconds: float = 30.0) -> None:
        if not bot_urls:
            raise ValueError("a load balancer needs at least one bot URL")
        self.bot_urls = [url.rstrip("/") for url in bot_urls]
        self._turn = itertools.cycle(range(len(self.bot_urls)))
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self.taken: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX, self._snapshot)
        # Any path, even one whose decoded form holds a line break (which `.` does not match).
        app.router.add_post(PREFIX + r"/{path:[\s\S]*}", self._forward)

    def url(self, emulators_url: str) -> str:
        """The base URL the emulators deliver to instead of a bot's."""
        return emulators_url.rstrip("/") + PREFIX

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def snapshot(self) -> dict[str, object]:
        return {"replicas": [{"url": url, "taken": self.taken[url], "refused": self.refused[url]}
                             for url in self.bot_urls]}

    async def _snapshot(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        # The path and query exactly as sent (still percent-encoded): a proxy that re-encodes changes what it forwards.
        path = request.raw_path[len(PREFIX):]
        first = next(self._turn)
        for step in range(len(self.bot_urls)):
            url = self.bot_urls[(first + step) % len(self.bot_urls)]
            try:
                async with self._http().post(URL(url + path, encoded=True), data=body, headers=headers,
                                             allow_redirects=False) as answer:
                    content = await answer.read()
                    self.taken[url] += 1
                    return web.Response(status=answer.status, body=content, headers={
                        k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS})
            except aiohttp.ClientConnectorError as error:  # refused, unreachable: route around it
                self.refused[url] += 1
                log.info("replica %s refused a delivery (%s); trying the next", url, error.__class__.__name__)
        return web.Response(status=502, text="no replica accepted the connection")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session
