"""The emulators index what they look up (issue 16, item 8): a call touches the same few objects in a world of ten
incidents as in a world of ten thousand. Work is counted, never timed: the world is filled with watched objects
(subclasses of the emulators' own records that note every read of the fields a lookup compares), then the calls the
bot makes per incident are made through the public routes and Web API methods, and the watched objects each call
read are counted in both worlds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.clock import SettableClock
from bot.catalogue import Catalogue
from sandbox.faults import Faults
from sandbox.pagerduty.model import Incident, LogEntry, Note
from sandbox.servicenow.emulator import JournalEntry, ServiceNowEmulator
from sandbox.slack.emulator import SlackEmulator
from sandbox.slack.methods import chat, conversations
from sandbox.slack.model import Args, Channel, Message, SlackApiFailure
from tests.sandbox.pagerduty_env import ASHA, START, MakePd, call, rest_client

SMALL, LARGE = 10, 10_000
TOUCHED: list[str] = []  # the ids of watched objects read since the last `counting()` (a call counts distinct ones)


@contextmanager
def counting() -> Iterator[list[str]]:
    TOUCHED.clear()
    yield TOUCHED


def watched(cls: type[Any], key: str, fields: frozenset[str]) -> type[Any]:
    """A subclass of an emulator's record that notes its `key` whenever one of `fields` is read."""
    def __getattribute__(self: Any, name: str) -> Any:
        if name in fields:
            TOUCHED.append(object.__getattribute__(self, key))
        return object.__getattribute__(self, name)
    return type(f"Watched{cls.__name__}", (cls,), {"__getattribute__": __getattribute__})


WatchedChannel = watched(Channel, "id", frozenset({"name", "is_im", "members", "messages", "pins"}))
WatchedIncident = watched(Incident, "id", frozenset({"number", "incident_key", "service_id", "status",
                                                     "created_at"}))
WatchedLogEntry = watched(LogEntry, "id", frozenset({"incident_id", "type", "summary"}))
WatchedNote = watched(Note, "id", frozenset({"incident_id", "content"}))
WatchedJournalEntry = watched(JournalEntry, "sys_id", frozenset({"element_id", "element", "value", "row"}))


# ---- Slack ------------------------------------------------------------------------------------------------------


def slack_world(catalogue: Catalogue, size: int) -> SlackEmulator:
    assert catalogue.sandbox is not None
    slack = SlackEmulator(people=catalogue.sandbox.people, channels=["incidents"], faults=Faults(),
                          bot_token="xoxb-t", signing_secret="s", rate_limit_scale=0)
    for k in range(size):
        channel = WatchedChannel(id=f"CWORLD{k:06d}", name=f"inc-{k}-busy-world", is_private=False, created=0,
                                 creator=slack.bot.id, members=[slack.bot.id])
        ts = f"1700000000.{k:06d}"
        channel.messages[ts] = Message(channel=channel.id, ts=ts, user=slack.bot.id, text="card", blocks=[])
        slack.channels[channel.id] = channel
    return slack


def slack_lookups(slack: SlackEmulator, serial: int) -> dict[str, int]:
    """An incident's Slack calls, as the bot makes them; the watched channels each one read."""
    person = next(iter(slack.users.values()))
    touched: dict[str, int] = {}
    calls: dict[str, Callable[[], object]] = {
        "conversations.create": lambda: conversations.conversations_create(
            slack, Args({"name": f"inc-new-{serial}"})),
        "chat.postMessage by name": lambda: chat.chat_post_message(
            slack, Args({"channel": "#inc-5-busy-world", "text": "update"})),
        "chat.update": lambda: chat.chat_update(
            slack, Args({"channel": "CWORLD000005", "ts": "1700000000.000005", "text": "card again"})),
        "pins.add": lambda: chat.pins_add(slack, Args({"channel": "CWORLD000005", "timestamp": "1700000000.000005"})),
        "conversations.setTopic": lambda: conversations.conversations_set_topic(
            slack, Args({"channel": "CWORLD000005", "topic": "Investigating"})),
        "chat.postMessage to a DM": lambda: chat.chat_post_message(slack, Args({"channel": person.id, "text": "hi"})),
        "find_channel (missing)": lambda: slack.find_channel("#no-such-channel"),
    }
    for name, make_call in calls.items():
        with counting() as seen:
            make_call()
        touched[name] = len(set(seen))
    return touched


def test_slack_calls_touch_the_same_channels_in_a_small_and_a_large_workspace(catalogue: Catalogue) -> None:
    small, large = slack_lookups(slack_world(catalogue, SMALL), 1), slack_lookups(slack_world(catalogue, LARGE), 1)
    assert small == large
    assert max(large.values()) <= 1, large  # the channel named, if any; never the workspace


def test_a_channel_name_is_taken_whatever_the_workspace_size(catalogue: Catalogue) -> None:
    slack = slack_world(catalogue, LARGE)
    with counting() as seen, pytest.raises(SlackApiFailure, match="name_taken"):
        conversations.conversations_create(slack, Args({"name": "inc-9999-busy-world"}))
    assert set(seen) == {"CWORLD009999"}
    assert slack.find_channel("#inc-9999-busy-world") is slack.channels["CWORLD009999"]
    del slack.channels["CWORLD009999"]  # a name is free again once its channel is gone
    assert slack.find_channel("inc-9999-busy-world") is None
    conversations.conversations_create(slack, Args({"name": "inc-9999-busy-world"}))


# ---- PagerDuty --------------------------------------------------------------------------------------------------


async def pagerduty_lookups(make_sandbox: MakePd, size: int) -> dict[str, int]:
    pd = await make_sandbox()
    account = pd.emulator.account
    service_id = next(iter(account.services))
    for k in range(size):
        incident = WatchedIncident(id=f"QWORLD{k:07d}", number=100_000 + k, title=f"Old incident {k}",
                                   service_id=service_id, policy_id=None, urgency="high", incident_key=f"key-{k}",
                                   created_at=START - timedelta(days=1, seconds=k), assignee_ids=[],
                                   status="resolved", resolved_at=START - timedelta(days=1))
        account.incidents[incident.id] = incident
        account.log_entries.append(WatchedLogEntry(f"RWORLD{k:07d}", "trigger_log_entry", incident.id,
                                                   incident.created_at, None, "api", "Triggered through the API."))
        account.notes.append(WatchedNote(f"PWORLD{k:07d}", incident.id, next(iter(account.users)), "note",
                                         incident.created_at))
    touched: dict[str, int] = {}
    with rest_client(pd) as client:
        created = await call(client.rpost, "/incidents", headers={"From": ASHA}, json={"incident": {
            "type": "incident", "title": "New", "service": {"id": service_id, "type": "service_reference"},
            "incident_key": "key-5"}})  # a key an old, resolved incident had: not a duplicate
        calls: dict[str, Callable[[], object]] = {
            "GET /incidents/{number}": lambda: client.rget(f"/incidents/{created['incident_number']}"),
            "GET /incidents/{id}": lambda: client.rget(f"/incidents/{created['id']}"),
            "GET /incidents/{id}/log_entries": lambda: client.rget(f"/incidents/{created['id']}/log_entries"),
            "GET /incidents/{id}/notes": lambda: client.rget(f"/incidents/{created['id']}/notes"),
            "GET /services/{id}": lambda: client.rget(f"/services/{service_id}"),
            "GET /incidents?incident_key": lambda: client.rget("/incidents", params={"incident_key": "key-7"}),
        }
        for name, make_call in calls.items():
            with counting() as seen:
                await call(make_call)
            touched[name] = len(set(seen))
        with counting() as seen:
            await call(client.rpost, "/incidents", headers={"From": ASHA}, json={"incident": {
                "type": "incident", "title": "Again", "service": {"id": service_id, "type": "service_reference"},
                "incident_key": "key-6"}})
        touched["POST /incidents (dedup)"] = len(set(seen))
    return touched


async def test_pagerduty_calls_touch_the_same_incidents_in_a_small_and_a_large_account(
        make_sandbox: MakePd) -> None:
    small, large = await pagerduty_lookups(make_sandbox, SMALL), await pagerduty_lookups(make_sandbox, LARGE)
    assert small == large
    assert large["GET /incidents?incident_key"] <= 10  # the one incident with that key, never the account
    assert large["POST /incidents (dedup)"] <= 2  # the resolved incident with that key, checked for being open
    assert sum(large.values()) - large["GET /incidents?incident_key"] - large["POST /incidents (dedup)"] == 0


# ---- ServiceNow -------------------------------------------------------------------------------------------------


@pytest.fixture
async def servicenow() -> AsyncIterator[tuple[ServiceNowEmulator, TestServer]]:
    clock = SettableClock(START, frozen=True)
    emulator = ServiceNowEmulator(groups=["Service Desk"], faults=Faults(), username="u", password="p",
                                  webhook_secret="w", clock=clock.now)
    app = web.Application()
    emulator.add_routes(app)
    server = TestServer(app, port=0)
    await server.start_server()
    emulator.public_url = str(server.make_url("")).rstrip("/")
    yield emulator, server
    await emulator.close()
    await server.close()


class WatchedRow(dict[str, str]):
    """An incident row that notes its sys_id whenever a field of it is read."""

    def __getitem__(self, field: str) -> str:
        TOUCHED.append(dict.__getitem__(self, "sys_id"))
        return dict.__getitem__(self, field)

    def get(self, field: str, default: Any = None) -> Any:
        TOUCHED.append(dict.__getitem__(self, "sys_id"))
        return dict.get(self, field, default)


async def servicenow_lookups(emulator: ServiceNowEmulator, server: TestServer, size: int) -> dict[str, int]:
    for k in range(size):
        row = emulator.create_incident({"short_description": f"Old ticket {k}", "correlation_id": f"QOLD{k}"})
        emulator.tables["incident"][row["sys_id"]] = WatchedRow(row)
        emulator.journal.append(WatchedJournalEntry(f"j{k:031d}", row["sys_id"], "work_notes", "old note",
                                                    "u", "2026-03-01 09:00:00"))
    mine = emulator.create_incident({"short_description": "The incident's ticket", "correlation_id": "QMINE"})
    emulator.update_incident(mine["sys_id"], {"work_notes": "Acknowledged by Asha"})
    table = str(server.make_url("/sandbox/servicenow/api/now/table"))
    touched: dict[str, int] = {}
    async with aiohttp.ClientSession(headers={"Authorization": aiohttp.encode_basic_auth("u", "p")}) as session:
        requests: dict[str, tuple[str, str, dict[str, str]]] = {
            "GET incident by correlation_id": ("GET", "/incident", {
                "sysparm_query": "correlation_id=QMINE^ORx_pd_integration_incident=QMINE",
                "sysparm_fields": "sys_id,number,state"}),
            "GET incident/{sys_id}": ("GET", f"/incident/{mine['sys_id']}", {"sysparm_fields": "sys_id,state"}),
            "GET sys_journal_field of a ticket": ("GET", "/sys_journal_field", {
                "sysparm_query": f"element_id={mine['sys_id']}^element=work_notes^ORDERBYsys_created_on",
                "sysparm_fields": "value"}),
            "GET incident by number": ("GET", "/incident", {"sysparm_query": f"number={mine['number']}"}),
        }
        for name, (method, path, params) in requests.items():
            with counting() as seen:
                async with session.request(method, table + path, params=params) as response:
                    assert response.status == 200, await response.text()
                    result = (await response.json())["result"]
            assert result, name
            touched[name] = len(set(seen))
        with counting() as seen:
            async with session.patch(f"{table}/incident/{mine['sys_id']}", json={"work_notes": "Resolved"}) as answer:
                assert answer.status == 200
        touched["PATCH incident/{sys_id}"] = len(set(seen))
    return touched


async def test_servicenow_calls_touch_the_same_records_in_a_small_and_a_large_instance(
        servicenow: tuple[ServiceNowEmulator, TestServer]) -> None:
    small = await servicenow_lookups(*servicenow, SMALL)
    emulator, server = servicenow
    emulator.tables["incident"].clear()
    emulator.journal = []
    large = await servicenow_lookups(emulator, server, LARGE)
    assert small == large
    assert large == dict.fromkeys(large, 0)  # the watched rows are the others' tickets: none is read


async def test_an_indexed_query_still_answers_what_a_scan_would(
        servicenow: tuple[ServiceNowEmulator, TestServer]) -> None:
    """Tickets whose correlation changed, deleted ones, OR-ed and alternative queries: the index narrows, the query
    decides."""
    emulator, server = servicenow
    a = emulator.create_incident({"short_description": "A", "correlation_id": "Q1"})
    b = emulator.create_incident({"short_description": "B", "correlation_id": "Q2", "x_pd_integration_incident": "Q1"})
    c = emulator.create_incident({"short_description": "C", "correlation_id": "Q3"})
    emulator.update_incident(c["sys_id"], {"correlation_id": "Q1"})
    emulator.update_incident(a["sys_id"], {"correlation_id": "Q9"})
    table = str(server.make_url("/sandbox/servicenow/api/now/table"))
    async with aiohttp.ClientSession(headers={"Authorization": aiohttp.encode_basic_auth("u", "p")}) as session:
        async def numbers(query: str) -> list[str]:
            async with session.get(f"{table}/incident", params={"sysparm_query": query}) as response:
                return [r["short_description"] for r in (await response.json())["result"]]
        assert await numbers("correlation_id=Q1") == ["C"]
        assert await numbers("correlation_id=Q1^ORx_pd_integration_incident=Q1") == ["B", "C"]
        assert await numbers("correlation_id=Q9^NQcorrelation_id=Q2") == ["A", "B"]
        assert await numbers("correlation_id=Q1^short_description=B") == []
        assert await numbers("short_descriptionSTARTSWITHB^ORcorrelation_id=Q9") == ["A", "B"]  # a scan
        async with session.delete(f"{table}/incident/{b['sys_id']}") as response:
            assert response.status == 204
        assert await numbers("correlation_id=Q1^ORx_pd_integration_incident=Q1") == ["C"]
