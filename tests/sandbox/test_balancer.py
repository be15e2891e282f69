"""The emulators' load balancer (`pavedroad emulators --bot-url A,B`): deliveries go round-robin over the replicas,
one that refuses connections is skipped, what a replica answers goes back unchanged, and when none accepts the sender
gets 502 (so that PagerDuty, for one, retries). The replicas here are plain HTTP servers that say who they are."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.balancer import Balancer
from tests.e2e.process_helpers import free_port

Serve = Callable[[list[str]], Coroutine[Any, Any, str]]


def replica(name: str) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"replica": name, "path": request.path, "body": body.decode(),
                                  "signature": request.headers.get("X-Signature")},
                                 status=202, headers={"Retry-After": "7"})
    app = web.Application()
    app.router.add_post("/{path:.*}", answer)
    return app


@pytest.fixture
async def servers() -> AsyncIterator[list[TestServer]]:
    started: list[TestServer] = []
    yield started
    for server in started:
        await server.close()


@pytest.fixture
def balance(servers: list[TestServer]) -> Serve:
    async def serve(urls: list[str]) -> str:
        balancer = Balancer(urls)
        app = web.Application()
        balancer.add_routes(app)
        app.on_cleanup.append(lambda _: balancer.close())
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/sandbox/replicas"))
    return serve


async def started(servers: list[TestServer], name: str) -> str:
    server = TestServer(replica(name))
    await server.start_server()
    servers.append(server)
    return str(server.make_url("")).rstrip("/")


async def send(url: str, path: str = "/pagerduty/webhook") -> tuple[int, dict[str, Any], str | None]:
    async with aiohttp.ClientSession() as session, session.post(
            url + path, data=b'{"event": 1}', headers={"X-Signature": "v1=abc"}) as answer:
        return answer.status, await answer.json(content_type=None), answer.headers.get("Retry-After")


async def test_deliveries_go_round_robin_and_come_back_unchanged(servers: list[TestServer], balance: Serve) -> None:
    front = await balance([await started(servers, "a"), await started(servers, "b")])
    answers = [await send(front) for _ in range(4)]
    assert [a[1]["replica"] for a in answers] == ["a", "b", "a", "b"]
    status, body, retry_after = answers[0]
    assert (status, retry_after) == (202, "7")
    assert body == {"replica": "a", "path": "/pagerduty/webhook", "body": '{"event": 1}', "signature": "v1=abc"}
    async with aiohttp.ClientSession() as session, session.get(front) as shown:
        assert [r["taken"] for r in (await shown.json())["replicas"]] == [2, 2]


async def test_a_replica_that_refuses_connections_is_skipped(servers: list[TestServer], balance: Serve) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the connection is refused
    front = await balance([await started(servers, "a"), dead, await started(servers, "c")])
    # The dead replica's turns go to the next live one.
    assert [(await send(front, "/slack/events"))[1]["replica"] for _ in range(4)] == ["a", "c", "c", "a"]
    async with aiohttp.ClientSession() as session, session.get(front) as shown:
        replicas = (await shown.json())["replicas"]
    assert replicas[1] == {"url": dead, "taken": 0, "refused": 1}


async def test_when_no_replica_accepts_the_sender_gets_502(balance: Serve) -> None:
    front = await balance([f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"])
    async with aiohttp.ClientSession() as session, session.post(front + "/servicenow/webhook", data=b"{}") as answer:
        assert answer.status == 502
        assert "no replica accepted" in await answer.text()


def test_a_balancer_needs_a_replica() -> None:
    with pytest.raises(ValueError, match="at least one bot URL"):
        Balancer([])
