"""Property: the emulators' load balancer (`emulators --bot-url A,B`) is transparent. Whatever a sender posts — any
bytes as the body, any path and query, any signature header — reaches a replica as sent, and whatever the replica
answers (any status, any body) comes back to the sender as answered; deliveries alternate between the replicas."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from sandbox.balancer import Balancer
from tests.property.loop_bridge import OnTheLoop, run_property

# Statuses a bot may answer with (1xx and 204/304 carry no body, which HTTP itself forbids, so they are left out).
STATUSES = st.sampled_from([200, 202, 400, 401, 404, 413, 429, 500, 503])
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


def echo(name: str) -> web.Application:
    """A replica that answers with what it received, under the status and body the sender asked for."""
    async def answer(request: web.Request) -> web.Response:
        received = await request.read()
        status = int(request.headers["X-Answer-Status"])
        return web.Response(status=status, body=base64.b64encode(received), headers={
            "X-Replica": name, "X-Path": request.raw_path, "X-Signature": request.headers.get("X-Signature", "")})
    app = web.Application()
    app.router.add_post(r"/{path:[\s\S]*}", answer)
    return app


@pytest.fixture
async def front() -> AsyncIterator[str]:
    replicas = [TestServer(echo("a")), TestServer(echo("b"))]
    for replica in replicas:
        await replica.start_server()
    balancer = Balancer([str(r.make_url("")).rstrip("/") for r in replicas])
    app = web.Application()
    balancer.add_routes(app)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/sandbox/replicas"))
    await server.close()
    await balancer.close()
    for replica in replicas:
        await replica.close()


async def test_the_balancer_forwards_any_delivery_and_answer_unchanged(front: str) -> None:
    on_loop = OnTheLoop()
    seen: list[str] = []

    @given(body=st.binary(max_size=4096), segments=st.lists(st.text(min_size=1, max_size=12), min_size=1,
                                                            max_size=3),
           query=st.dictionaries(st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1,
                                         max_size=6), st.text(max_size=10), max_size=2),
           signature=HEADER_TEXT, status=STATUSES)
    def prop(body: bytes, segments: list[str], query: dict[str, str], signature: str, status: int) -> None:
        path = "/" + "/".join(quote(s, safe="") for s in segments)
        if query:
            path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())

        async def deliver() -> tuple[int, bytes, dict[str, str]]:
            async with aiohttp.ClientSession() as session, session.post(
                    URL(front + path, encoded=True), data=body, skip_auto_headers=["Content-Type"],
                    headers={"X-Signature": signature, "X-Answer-Status": str(status)}) as answer:
                return answer.status, await answer.read(), dict(answer.headers)
        got_status, got_body, headers = on_loop.run(deliver())
        assert got_status == status
        assert base64.b64decode(got_body) == body
        assert headers["X-Signature"] == signature.strip()  # HTTP trims a header's surrounding spaces
        assert headers["X-Path"] == path
        seen.append(headers["X-Replica"])

    await run_property(prop)
    assert set(seen) == {"a", "b"} and all(x != y for x, y in itertools.pairwise(seen))
