"""A caller that hangs up while Slack, PagerDuty or ServiceNow holds its call (injected latency: its task cancelled as a
bot stops, its own timeout) is a dropped connection, not an error: the emulator's log says so at DEBUG, with no
traceback, and it goes on serving. As the real service would, it carries the call out (it had the whole call in hand,
the latency is its own processing) and only its answer goes to nobody: "the service did it, the bot never heard".
A caller gone before its call came in whole has asked nothing: nothing is done (all three emulators).
The Slack emulator's held call told in its log is also tests/sandbox/test_slack_client_gone_mid_call.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.clock import SettableClock
from bot.catalogue import Catalogue, SandboxPerson
from sandbox.faults import Fault, Faults
from sandbox.pagerduty.emulator import PagerDutyEmulator
from sandbox.servicenow.emulator import ServiceNowEmulator
from sandbox.slack.emulator import SlackEmulator
from tests.e2e.sandbox_helpers import eventually

HELD_MS = 60_000  # held until the test releases it (`Faults.release_held`): never waited out
START = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
PD_TOKEN, PD_PATH = "pd-token", "/sandbox/pagerduty/api"
SN_USER, SN_PASSWORD, SN_PATH = "pavedroad.integration", "s3cret-password", "/sandbox/servicenow/api/now"
SLACK_TOKEN = "xoxb-sandbox-token"
ASHA = "asha.patel@example.com"  # a PagerDuty user of the example catalogue's sandbox seed


@asynccontextmanager
async def served_as_the_sandbox_serves_it(add_routes: Callable[[web.Application], None]
                                          ) -> AsyncIterator[tuple[web.Server, str]]:
    """Routes behind aiohttp's own runner, as serve_sandbox runs them: a handler goes on when its caller hangs up
    (aiohttp's test server cancels it instead, which hides what the sandbox does). Yields the server and its URL."""
    app = web.Application()
    add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    [address] = runner.addresses
    try:
        assert runner.server is not None
        yield runner.server, f"http://127.0.0.1:{address[1]}"
    finally:
        await runner.cleanup()


def pagerduty(catalogue: Catalogue, faults: Faults) -> PagerDutyEmulator:
    assert catalogue.sandbox is not None
    return PagerDutyEmulator(seed=catalogue.sandbox, services=[(s.pagerduty_service_id, s.name)
                                                               for s in catalogue.services],
                             faults=faults, api_token=PD_TOKEN, webhook_secrets=["secret"], validator=None,
                             clock=SettableClock(START, frozen=True).now)


def servicenow(faults: Faults) -> ServiceNowEmulator:
    return ServiceNowEmulator(groups=["Basket Team"], faults=faults, username=SN_USER, password=SN_PASSWORD,
                              webhook_secret="secret", clock=SettableClock(START, frozen=True).now)


PD_HEADERS = {"Authorization": f"Token token={PD_TOKEN}", "From": ASHA}
SLACK_HEADERS = {"Authorization": f"Bearer {SLACK_TOKEN}"}
SN_HEADERS = {"Authorization": aiohttp.encode_basic_auth(SN_USER, SN_PASSWORD)}


async def hang_up_while_held(server: web.Server, faults: Faults, service: str, send: asyncio.Task[object]) -> None:
    """The caller's call is held (injected latency), the caller hangs up, then the service gets to the call."""
    await eventually(lambda: faults.held[service] == 1)
    send.cancel()  # the caller hangs up mid-call, closing its connection
    with contextlib.suppress(asyncio.CancelledError):
        await send
    # The emulator's server has seen the connection go (its handler, held, is still under way).
    await eventually(lambda: all(handler.transport is None for handler in server.connections))
    faults.release_held(service)


def told_at_debug(caplog: pytest.LogCaptureFixture, logger: str) -> str:
    """What the emulator's log says of the call: one DEBUG line, no traceback, nothing at WARNING or above."""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    [told] = [r for r in caplog.records if r.name in ("aiohttp.server", logger)]
    assert told.levelno == logging.DEBUG and told.exc_info is None
    return told.getMessage()


def logged(caplog: pytest.LogCaptureFixture, logger: str) -> Callable[[], bool]:
    return lambda: any(r.name in ("aiohttp.server", logger) for r in caplog.records)


def slack(faults: Faults) -> SlackEmulator:
    return SlackEmulator(people=[SandboxPerson(name="Ana Silva", email="ana.silva@example.com")],
                         channels=["incidents"], faults=faults, bot_token=SLACK_TOKEN, signing_secret="secret",
                         clock=SettableClock(START, frozen=True).timestamp, rate_limit_scale=0, settle_seconds=0.05,
                         quiet_seconds=0.02)


async def test_slack_carries_out_a_held_call_whose_caller_hung_up(caplog: pytest.LogCaptureFixture) -> None:
    """What the Slack test beside this one holds, followed to its end: the message is posted all the same."""
    caplog.set_level(logging.DEBUG)
    faults = Faults()
    workspace = slack(faults)
    async with served_as_the_sandbox_serves_it(workspace.add_routes) as (server, url), \
            aiohttp.ClientSession() as session:
        faults.add(Fault("slack", "chat.postMessage", times=0, latency_ms=HELD_MS))
        posting = asyncio.create_task(session.post(f"{url}/sandbox/slack/api/chat.postMessage", headers=SLACK_HEADERS,
                                                   json={"channel": "incidents", "text": "Basket is empty"}))
        await hang_up_while_held(server, faults, "slack", posting)
        await eventually(logged(caplog, "sandbox.slack.emulator"))

        assert "chat.postMessage" in told_at_debug(caplog, "sandbox.slack.emulator")
        [channel] = [c for c in workspace.channels.values() if c.name == "incidents"]
        assert [m.text for m in channel.messages.values()] == ["Basket is empty"]  # only its answer went to nobody
    await workspace.close()


async def test_pagerduty_carries_out_a_held_call_whose_caller_hung_up(catalogue: Catalogue,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    faults = Faults()
    pd = pagerduty(catalogue, faults)
    incident = await pd.trigger(title="Basket is empty")
    notes = f"{PD_PATH}/incidents/{incident['id']}/notes"
    async with served_as_the_sandbox_serves_it(pd.add_routes) as (server, url), aiohttp.ClientSession() as session:
        faults.add(Fault("pagerduty", "POST /incidents", times=0, latency_ms=HELD_MS))
        noting = asyncio.create_task(session.post(url + notes, headers=PD_HEADERS,
                                                  json={"note": {"content": "Rolled back"}}))
        await hang_up_while_held(server, faults, "pagerduty", noting)
        await eventually(logged(caplog, "sandbox.pagerduty.emulator"))

        assert "notes" in told_at_debug(caplog, "sandbox.pagerduty.emulator")
        assert [n.content for n in pd.account.notes] == ["Rolled back"]  # done: only its answer went to nobody
        # The emulator goes on serving the next caller.
        faults.rules.clear()
        async with session.get(url + notes, headers=PD_HEADERS) as answer:
            assert answer.status == 200
            assert [n["content"] for n in (await answer.json())["notes"]] == ["Rolled back"]
    await pd.close()


@pytest.mark.parametrize("held", ["table", "attachment"])
async def test_servicenow_carries_out_a_held_call_whose_caller_hung_up(held: str,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    faults = Faults()
    sn = servicenow(faults)
    async with served_as_the_sandbox_serves_it(sn.add_routes) as (server, url), aiohttp.ClientSession() as session:
        sn.public_url = url
        async with session.post(f"{url}{SN_PATH}/table/incident", headers=SN_HEADERS,
                                json={"short_description": "Basket is empty"}) as made:
            ticket = (await made.json())["result"]["sys_id"]
        if held == "table":
            faults.add(Fault("servicenow", "PATCH /api/now/table/incident", times=0, latency_ms=HELD_MS))
            sending = asyncio.create_task(session.patch(f"{url}{SN_PATH}/table/incident/{ticket}", headers=SN_HEADERS,
                                                        json={"work_notes": "Rolled back"}))
        else:
            faults.add(Fault("servicenow", "POST /api/now/attachment", times=0, latency_ms=HELD_MS))
            sending = asyncio.create_task(session.post(
                f"{url}{SN_PATH}/attachment/file", data=b"Rolled back",
                params={"table_name": "incident", "table_sys_id": ticket, "file_name": "timeline.md"},
                headers=SN_HEADERS | {"Content-Type": "text/markdown"}))
        await hang_up_while_held(server, faults, "servicenow", sending)
        logger = "sandbox.servicenow." + ("emulator" if held == "table" else "attachments")
        await eventually(logged(caplog, logger))

        assert ("incident" if held == "table" else "attachment") in told_at_debug(caplog, logger)
        # Done: only its answer went to nobody.
        if held == "table":
            assert [entry.value for entry in sn.journal.on(ticket)] == ["Rolled back"]
        else:
            assert [a.content for a in sn.attachments.attachments.values()] == [b"Rolled back"]
        # The emulator goes on serving the next caller.
        faults.rules.clear()
        async with session.get(f"{url}{SN_PATH}/table/incident/{ticket}", headers=SN_HEADERS) as answer:
            assert answer.status == 200
    await sn.close()


async def hang_up_half_sent(url: str, path: str, headers: dict[str, str], called: Callable[[], bool]) -> None:
    """Send a call's headers and half its body, then hang up once the emulator has begun on it."""
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 100\r\n{head}\r\n{{\"note\": ".encode())
    await writer.drain()
    await eventually(called)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@pytest.mark.parametrize("service", ["slack", "pagerduty", "servicenow"])
async def test_a_caller_gone_before_its_call_came_whole_is_no_error_and_nothing_done(
        service: str, catalogue: Catalogue, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    faults = Faults()
    emulator: SlackEmulator | PagerDutyEmulator | ServiceNowEmulator
    if service == "slack":
        emulator = slack(faults)
        path, headers = "/sandbox/slack/api/chat.postMessage", SLACK_HEADERS
    elif service == "pagerduty":
        emulator = pagerduty(catalogue, faults)
        incident = await emulator.trigger(title="Basket is empty")
        path, headers = f"{PD_PATH}/incidents/{incident['id']}/notes", PD_HEADERS
    else:
        emulator = servicenow(faults)
        path, headers = f"{SN_PATH}/table/incident", SN_HEADERS
    logger = f"sandbox.{service}.emulator"
    async with served_as_the_sandbox_serves_it(emulator.add_routes) as (_server, url):
        await hang_up_half_sent(url, path, headers, lambda: sum(emulator.calls.values()) == 1)
        await eventually(logged(caplog, logger))

        assert "hung up" in told_at_debug(caplog, logger)
        # Nothing done: the emulator never had the call.
        if isinstance(emulator, SlackEmulator):
            assert all(not channel.messages for channel in emulator.channels.values())
        elif isinstance(emulator, PagerDutyEmulator):
            assert emulator.account.notes == []
        else:
            assert emulator.tables["incident"] == {}
    await emulator.close()
