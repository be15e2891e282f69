"""The ServiceNow emulator, driven over HTTP by a plain aiohttp client as any Table API client would, and checked
against ServiceNow's documented behaviour: authentication, the incident rules, journal fields, encoded queries,
errors and faults, and the business rule's signed, ordered webhooks (including the script a customer pastes)."""

from __future__ import annotations

import hmac
import json
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypedDict, Unpack, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

from bot.adapters.clock import SettableClock
from sandbox.faults import Fault, Faults
from sandbox.servicenow.emulator import BUSINESS_RULE_SCRIPT, ServiceNowEmulator
from sandbox.servicenow.query import parse_query
from sandbox.servicenow.webhooks import CUT
from tests.helpers import servicenow_signature
from tests.sandbox.receivers import Receiver, serving

USER, PASSWORD, SECRET = "pavedroad.integration", "s3cret-password", "webhook-secret"
GROUPS = ("Basket Team", "Payments Team", "Service Desk")
TABLE = "/sandbox/servicenow/api/now/table"
START = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)  # the emulator's frozen clock, moved only by the tests
NOT_FOUND = {"error": {"message": "No Record found",
                       "detail": "Record doesn't exist or ACL restricts the record retrieval"}, "status": "failure"}
RESOLUTION_MANDATORY = {"error": {"message": "Operation Failed", "detail": "Data Policy Exception: \n The following "
                                  "fields are mandatory: Resolution code, Resolution notes"}, "status": "failure"}
CLOSED_TO_WRITES = {"error": {"message": "Operation Failed",
                              "detail": "ACL Exception Update Failed due to security constraints"}, "status": "failure"}


def check_signed(request: web.Request, body: bytes) -> None:
    """The bot's `POST /servicenow/webhook` checks the business rule's HMAC of the raw body."""
    assert hmac.compare_digest(servicenow_signature(SECRET, body), request.headers["X-ServiceNow-Signature"])
    assert request.headers["Content-Type"] == "application/json"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(Receiver(), "/servicenow/webhook", check_signed, usual_status=200) as serving_receiver:
        yield serving_receiver


@dataclass
class Sn:
    emulator: ServiceNowEmulator
    server: TestServer
    clock: SettableClock
    faults: Faults
    session: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def call(self, method: str, path: str, *, auth: tuple[str, str] | None = None,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """One request; answers (status, JSON body or None, headers). Authenticated as the bot unless told."""
        if auth is None and headers is None:
            auth = (USER, PASSWORD)
        if auth is not None:
            headers = (headers or {}) | {"Authorization": aiohttp.encode_basic_auth(*auth)}
        async with self.session.request(method, self.url(path), headers=headers,
                                        allow_redirects=False, **kwargs) as response:
            text = await response.text()
            return response.status, json.loads(text) if text and response.content_type == "application/json" \
                else None, response.headers

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body, _ = await self.call(method, path, **kwargs)
        assert 200 <= status < 300, (status, body)
        return body["result"] if isinstance(body, dict) else body

    async def create(self, **fields: Any) -> dict[str, Any]:
        created: dict[str, Any] = await self.ok("POST", f"{TABLE}/incident", json=fields)
        return created

    def state(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.emulator.snapshot())  # JSON, as GET /sandbox/state serves it


class SnOptions(TypedDict, total=False):
    """What a test may set on the emulator (ServiceNowEmulator's keywords); the rest are its defaults."""

    rate_limit_per_minute: int
    webhook_max_attempts: int


class MakeSn(Protocol):
    async def __call__(self, **options: Unpack[SnOptions]) -> Sn: ...


@pytest.fixture
async def make_sn(receiver: Receiver) -> AsyncIterator[MakeSn]:
    started: list[Sn] = []

    async def make(**options: Unpack[SnOptions]) -> Sn:
        clock, faults = SettableClock(START, frozen=True), Faults()
        emulator = ServiceNowEmulator(groups=GROUPS, faults=faults, username=USER, password=PASSWORD,
                                      webhook_secret=SECRET, clock=clock.now, webhook_backoff_seconds=0.0, **options)
        app = web.Application()
        emulator.add_routes(app)
        server = TestServer(app, port=0)
        await server.start_server()
        emulator.public_url = str(server.make_url("")).rstrip("/")
        emulator.webhook_url = receiver.url
        started.append(Sn(emulator, server, clock, faults, aiohttp.ClientSession()))
        return started[-1]

    yield make
    for sn in started:
        await sn.session.close()
        await sn.emulator.close()
        await sn.server.close()


@pytest.fixture
async def sn(make_sn: MakeSn) -> Sn:
    return await make_sn()


def group_id(sn: Sn, name: str) -> str:
    return str(next(g["sys_id"] for g in sn.state()["groups"] if g["name"] == name))


# ---- authentication and routing ---------------------------------------------------------------------------------


async def test_authentication_basic_or_bearer(sn: Sn) -> None:
    unauthenticated = {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
                       "status": "failure"}
    attempts: list[dict[str, Any]] = [
        {"headers": {}}, {"auth": (USER, "wrong")}, {"auth": ("someone.else", PASSWORD)},
        {"headers": {"Authorization": "Bearer wrong"}}, {"headers": {"Authorization": "Basic !!!"}},
        {"headers": {"Authorization": "Basic " + "x" * 3}}, {"headers": {"Authorization": f"Token {PASSWORD}"}}]
    for kwargs in attempts:
        status, body, headers = await sn.call("GET", f"{TABLE}/incident", **kwargs)
        assert (status, body) == (401, unauthenticated), kwargs
        assert headers["WWW-Authenticate"].startswith("BASIC")
    assert await sn.ok("GET", f"{TABLE}/incident") == []
    assert await sn.ok("GET", f"{TABLE}/incident", headers={"Authorization": f"Bearer {PASSWORD}"}) == []
    assert sn.state()["incidents"] == []


async def test_unknown_tables_records_and_methods(sn: Sn) -> None:
    status, body, _ = await sn.call("GET", f"{TABLE}/problem")
    assert (status, body) == (400, {"error": {"message": "Invalid table problem", "detail": None}, "status": "failure"})
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        status, body, _ = await sn.call(method, f"{TABLE}/incident/{'0' * 32}", json={})
        assert (status, body) == (404, NOT_FOUND), method
    status, body, _ = await sn.call("POST", f"{TABLE}/sys_user_group", json={"name": "x"})
    assert status == 405 and body["status"] == "failure"
    status, body, _ = await sn.call("PUT", f"{TABLE}/incident", json={})
    assert status == 405
    status, body, _ = await sn.call("POST", f"{TABLE}/incident", data=b"{not json",
                                    headers={"Authorization": f"Bearer {PASSWORD}"})
    assert (status, body["error"]["message"]) == (400, "Exception while reading request")
    calls = sn.state()["calls"]
    assert calls["GET /api/now/table/incident/{sys_id}"] == 1 and calls["GET /api/now/table/problem"] == 1


# ---- records ----------------------------------------------------------------------------------------------------


async def test_create_read_update_delete(sn: Sn) -> None:
    status, body, headers = await sn.call("POST", f"{TABLE}/incident", json={
        "short_description": "Basket API 5xx", "description": "Errors", "assignment_group": "Basket Team",
        "impact": 1, "urgency": "2", "caller_id": "asha.patel", "correlation_id": "Q1ABC",
        "x_pd_integration_incident": "Q1ABC", "priority": "5", "number": "INC9999999", "no_such_field": "x"})
    assert status == 201
    record = body["result"]
    assert headers["Location"] == sn.url(f"{TABLE}/incident/{record['sys_id']}")
    assert re.fullmatch(r"[0-9a-f]{32}", record["sys_id"])
    assert record["number"] == "INC0010001"  # read-only fields are ignored, as are unknown ones
    assert "no_such_field" not in record
    assert (record["state"], record["impact"], record["urgency"], record["priority"]) == ("1", "1", "2", "2")
    assert record["category"] == "inquiry" and record["active"] == "true"
    assert record["sys_created_on"] == record["sys_updated_on"] == "2026-03-02 09:30:00"
    assert record["sys_created_by"] == record["sys_updated_by"] == USER and record["sys_mod_count"] == "0"
    assert record["work_notes"] == "" and record["comments"] == ""
    groups = group_id(sn, "Basket Team")
    assert record["assignment_group"] == {"link": sn.url(f"{TABLE}/sys_user_group/{groups}"), "value": groups}
    assert record["caller_id"]["link"].endswith(f"/sys_user/{record['caller_id']['value']}")
    assert record["opened_by"]["value"] != record["caller_id"]["value"]
    assert all(isinstance(v, str) for k, v in record.items() if not isinstance(v, dict))
    group = await sn.ok("GET", record["assignment_group"]["link"].removeprefix(sn.url("")))
    assert group["name"] == "Basket Team"
    caller = await sn.ok("GET", record["caller_id"]["link"].removeprefix(sn.url("")))
    assert (caller["user_name"], caller["name"]) == ("asha.patel", "Asha Patel")

    second = await sn.create(short_description="Checkout down")
    assert second["number"] == "INC0010002" and second["assignment_group"] == "" and second["priority"] == "5"

    sys_id = record["sys_id"]
    sn.clock.advance(timedelta(minutes=1))
    updated = await sn.ok("PATCH", f"{TABLE}/incident/{sys_id}", json={"state": "2", "assignment_group": groups})
    assert updated["state"] == "2" and updated["sys_updated_on"] == "2026-03-02 09:31:00"
    assert updated["sys_mod_count"] == "1"
    put = await sn.ok("PUT", f"{TABLE}/incident/{sys_id}", json={"urgency": 1})
    assert (put["state"], put["urgency"], put["priority"]) == ("2", "1", "1")  # PUT also updates only what is sent
    assert (await sn.ok("GET", f"{TABLE}/incident/{sys_id}")) == put

    status, body, _ = await sn.call("DELETE", f"{TABLE}/incident/{sys_id}")
    assert (status, body) == (204, None)
    assert (await sn.call("GET", f"{TABLE}/incident/{sys_id}"))[:2] == (404, NOT_FOUND)
    assert [i["number"] for i in sn.state()["incidents"]] == ["INC0010002"]


@pytest.mark.parametrize(("field_name", "value"), [("state", "4"), ("state", "5"), ("state", "0"), ("state", ""),
                                                   ("impact", "4"), ("urgency", "0"), ("impact", "high")])
async def test_invalid_choices_are_400_and_change_nothing(sn: Sn, field_name: str, value: str) -> None:
    record = await sn.create(short_description="x")
    status, body, _ = await sn.call("PATCH", f"{TABLE}/incident/{record['sys_id']}",
                                    json={field_name: value, "short_description": "changed"})
    assert status == 400 and body["status"] == "failure" and body["error"]["message"] == "Invalid choice value"
    assert field_name in body["error"]["detail"]
    status, body, _ = await sn.call("POST", f"{TABLE}/incident", json={field_name: value})
    assert status == 400
    assert [(i["short_description"], i["state"]) for i in sn.state()["incidents"]] == [("x", "1")]


@pytest.mark.parametrize("last", ["7", "8"])
async def test_every_standard_state(sn: Sn, last: str) -> None:
    record = await sn.create(short_description="x", close_code="Solved (Permanently)", close_notes="fixed")
    path = f"{TABLE}/incident/{record['sys_id']}"
    # Closed and Canceled come last: the write ACL refuses any update after them (test_a_closed_or_canceled_...).
    for state, active in (("2", "true"), ("3", "true"), ("6", "true"), ("2", "true"), ("1", "true"),
                          (last, "false")):
        assert (await sn.ok("PATCH", path, json={"state": state}))["active"] == active, state


async def test_bad_values_and_unknown_groups_are_400(sn: Sn) -> None:
    status, body, _ = await sn.call("POST", f"{TABLE}/incident", json={"short_description": ["a"]})
    assert status == 400 and "short_description" in body["error"]["detail"]
    status, body, _ = await sn.call("POST", f"{TABLE}/incident", json={"assignment_group": "Nobody's Team"})
    assert status == 400 and "Nobody's Team" in body["error"]["detail"]
    assert sn.state()["incidents"] == []
    sn.emulator.add_group("Nobody's Team")
    record = await sn.create(assignment_group="Nobody's Team")
    assert record["assignment_group"]["value"] == group_id(sn, "Nobody's Team")


async def test_resolving_needs_resolution_code_and_notes(sn: Sn, receiver: Receiver) -> None:
    record = await sn.create(short_description="Basket API 5xx", state="2")
    path = f"{TABLE}/incident/{record['sys_id']}"
    await sn.emulator.drain_webhooks()
    before = sn.state()["incidents"]

    status, body, _ = await sn.call("PATCH", path, json={"state": "6", "work_notes": "resolving"})
    assert (status, body) == (403, RESOLUTION_MANDATORY)
    status, body, _ = await sn.call("PUT", path, json={"state": 6, "close_code": "Solved (Permanently)"})
    assert status == 403 and body["error"]["detail"].endswith("mandatory: Resolution notes")
    status, body, _ = await sn.call("PATCH", path, json={"state": "7", "close_notes": "  "})
    assert status == 403
    status, body, _ = await sn.call("POST", f"{TABLE}/incident", json={"state": "6", "close_notes": "x"})
    assert status == 403 and body["error"]["detail"].endswith("mandatory: Resolution code")
    await sn.emulator.drain_webhooks()
    assert sn.state()["incidents"] == before  # nothing changed, not even the work note
    assert len(receiver.received) == 1  # and no business rule ran

    sn.clock.advance(timedelta(minutes=30))
    resolved = await sn.ok("PATCH", path, json={"state": "6", "close_code": "Solved (Permanently)",
                                                "close_notes": "Rolled back"})
    assert resolved["state"] == "6" and resolved["resolved_at"] == "2026-03-02 10:00:00"
    assert resolved["resolved_by"]["value"] == resolved["opened_by"]["value"]
    # Clearing them on a resolved ticket is refused.
    status, body, _ = await sn.call("PATCH", path, json={"close_notes": ""})
    assert status == 403 and body["error"]["detail"].endswith("mandatory: Resolution notes")
    reopened = await sn.ok("PATCH", path, json={"state": "2"})
    assert reopened["resolved_at"] == reopened["closed_at"] == "" and reopened["close_code"] == "Solved (Permanently)"
    # Already on the record: resolving again, and closing, need nothing more.
    assert (await sn.ok("PATCH", path, json={"state": "6"}))["resolved_at"] == "2026-03-02 10:00:00"
    closed = await sn.ok("PATCH", path, json={"state": "7"})
    assert closed["closed_at"] == "2026-03-02 10:00:00" and closed["active"] == "false"
    # Reopened from Closed by a person allowed to (the control routes: an admin), the closure stamps go.
    back = await sn.ok("PATCH", f"/sandbox/servicenow/incidents/{record['sys_id']}", json={"state": "6"}, headers={})
    assert back["closed_at"] == "" and back["resolved_at"] == "2026-03-02 10:00:00" and back["active"] == "true"


@pytest.mark.parametrize("state", ["7", "8"])
async def test_a_closed_or_canceled_incident_takes_no_update(sn: Sn, receiver: Receiver, state: str) -> None:
    """The write ACL most instances keep on closed incidents: the Table API refuses every update of a Closed or
    Canceled one, a reopening or a work note included, and every attachment to it, with ServiceNow's 403; reading it
    is still allowed."""
    record = await sn.create(short_description="Basket API 5xx", close_code="Solved (Permanently)",
                             close_notes="Rolled back", state=state)
    path = f"{TABLE}/incident/{record['sys_id']}"
    await sn.emulator.drain_webhooks()
    before = sn.state()["incidents"]
    for method, fields in (("PATCH", {"state": "2"}), ("PATCH", {"work_notes": "Reopened in PagerDuty"}),
                           ("PUT", {"comments": "We are on it"}), ("PATCH", {"short_description": "x"})):
        status, body, _ = await sn.call(method, path, json=fields)
        assert (status, body) == (403, CLOSED_TO_WRITES), fields
    # Nor an attachment: creating one needs write access to its record.
    status, body, _ = await sn.call("POST", f"{ATTACH}/file", data=b"# Review", headers={
        "Authorization": aiohttp.encode_basic_auth(USER, PASSWORD), "Content-Type": "text/markdown"},
        params={"table_name": "incident", "table_sys_id": record["sys_id"], "file_name": "review.md"})
    assert (status, body) == (403, CLOSED_TO_WRITES)
    await sn.emulator.drain_webhooks()
    assert sn.state()["incidents"] == before and len(receiver.received) == 1  # the insert's delivery alone
    assert (await sn.ok("GET", path))["state"] == state
    # A follow-on refers to it by sys_id (or number), as `parent_incident`; an unknown one is a 400.
    follow_on = await sn.create(short_description="Basket API 5xx again", parent_incident=record["sys_id"])
    assert follow_on["parent_incident"]["value"] == record["sys_id"]
    by_number = await sn.create(short_description="and again", parent_incident=record["number"])
    assert by_number["parent_incident"]["value"] == record["sys_id"]
    shown = await sn.ok("GET", f"{TABLE}/incident/{follow_on['sys_id']}", params={"sysparm_display_value": "true"})
    assert shown["parent_incident"]["display_value"] == record["number"]
    status, body, _ = await sn.call("POST", f"{TABLE}/incident", json={"parent_incident": "INC0999999"})
    assert status == 400 and "INC0999999" in body["error"]["detail"]


async def test_a_duplicate_is_resolved_with_its_parent_incident_by_sys_id(sn: Sn) -> None:
    """The bot resolves a merged incident's ticket as a duplicate, `parent_incident` the surviving ticket's sys_id, in
    the resolving update: the reference is stored as that sys_id (its number the display value); one naming no
    incident is refused with 400 and changes nothing."""
    surviving = await sn.create(short_description="Checkout returns 500s")
    merged = await sn.create(short_description="Basket errors spike")
    path = f"{TABLE}/incident/{merged['sys_id']}"
    missing = "0" * 32
    status, body, _ = await sn.call("PATCH", path, json={"state": "6", "close_code": "Duplicate",
                                                          "close_notes": "Merged", "parent_incident": missing})
    assert status == 400 and missing in body["error"]["detail"]
    assert (await sn.ok("GET", path))["state"] == "1"
    resolved = await sn.ok("PATCH", path, json={"state": "6", "close_code": "Duplicate", "close_notes": "Merged",
                                                 "parent_incident": surviving["sys_id"]})
    assert (resolved["state"], resolved["parent_incident"]["value"]) == ("6", surviving["sys_id"])
    shown = await sn.ok("GET", path, params={"sysparm_display_value": "true"})
    assert shown["parent_incident"]["display_value"] == surviving["number"]


# ---- journal fields ---------------------------------------------------------------------------------------------


async def test_work_notes_and_comments_append(sn: Sn) -> None:
    record = await sn.create(short_description="x", work_notes="Opened by the bot")
    sys_id = record["sys_id"]
    path = f"{TABLE}/incident/{sys_id}"
    assert record["work_notes"] == ""
    sn.clock.advance(timedelta(minutes=5))
    await sn.ok("PATCH", path, json={"work_notes": "09:31 acknowledged"})
    await sn.ok("PATCH", path, json={"work_notes": "", "comments": "We are on it"})
    await sn.ok("PATCH", path, json={"work_notes": "   "})  # blank: nothing appended, nothing saved
    sn.clock.advance(timedelta(minutes=5))
    again = await sn.ok("PUT", path, json={"work_notes": "09:31 acknowledged"})  # the same text twice: two entries
    assert again["work_notes"] == "" and again["comments"] == ""
    assert again["sys_mod_count"] == "3"

    notes = await sn.ok("GET", f"{TABLE}/sys_journal_field",
                        params={"sysparm_query": f"element_id={sys_id}^element=work_notes"})
    assert [(n["value"], n["sys_created_by"], n["sys_created_on"], n["element"], n["element_id"]) for n in notes] == [
        ("Opened by the bot", USER, "2026-03-02 09:30:00", "work_notes", sys_id),
        ("09:31 acknowledged", USER, "2026-03-02 09:35:00", "work_notes", sys_id),
        ("09:31 acknowledged", USER, "2026-03-02 09:40:00", "work_notes", sys_id),
    ]
    newest = await sn.ok("GET", f"{TABLE}/sys_journal_field", params={
        "sysparm_query": f"element_id={sys_id}^ORDERBYDESCsys_created_on", "sysparm_limit": "1"})
    assert newest[0]["value"] == "09:31 acknowledged" and newest[0]["sys_created_on"] == "2026-03-02 09:40:00"
    incident = sn.state()["incidents"][0]
    assert [n["value"] for n in incident["work_notes"]] == ["Opened by the bot", "09:31 acknowledged",
                                                            "09:31 acknowledged"]
    assert incident["comments"] == [{"value": "We are on it", "created_by": USER, "created_on": "2026-03-02 09:35:00"}]

    shown = await sn.ok("GET", path, params={"sysparm_display_value": "true", "sysparm_fields": "work_notes,comments"})
    assert shown["comments"] == "2026-03-02 09:35:00 - Pavedroad Integration (Additional comments)\nWe are on it\n\n"
    assert shown["work_notes"].startswith("2026-03-02 09:40:00 - Pavedroad Integration (Work notes)\n")
    assert shown["work_notes"].endswith("Opened by the bot\n\n")

    await sn.ok("DELETE", path)
    assert await sn.ok("GET", f"{TABLE}/sys_journal_field", params={"sysparm_query": f"element_id={sys_id}"}) == []


# ---- queries ----------------------------------------------------------------------------------------------------


async def test_sysparm_query_forms(sn: Sn) -> None:
    a = await sn.create(short_description="Basket API 5xx", correlation_id="Q1", assignment_group="Basket Team",
                        urgency="1", impact="1")
    b = await sn.create(short_description="Checkout slow", x_pd_integration_incident="Q2",
                        assignment_group="Payments Team", urgency="2")
    c = await sn.create(short_description="Basket images missing", correlation_id="Q3", state="2")

    async def numbers(query: str, **params: str) -> list[str]:
        found = await sn.ok("GET", f"{TABLE}/incident", params={"sysparm_query": query} | params)
        return [r["number"] for r in found]

    assert await numbers("") == [a["number"], b["number"], c["number"]]
    assert await numbers("correlation_id=Q1") == [a["number"]]
    assert await numbers("correlation_id=Q2^ORx_pd_integration_incident=Q2") == [b["number"]]
    assert await numbers("correlation_id=Q1^ORx_pd_integration_incident=Q2^ORDERBYDESCnumber") == [
        b["number"], a["number"]]
    assert await numbers("short_descriptionLIKEbasket^state=1") == [a["number"]]
    assert await numbers("short_descriptionSTARTSWITHbasket^ORDERBYDESCstate") == [c["number"], a["number"]]
    assert await numbers("stateIN1,2^ORDERBYstate^ORDERBYDESCnumber") == [b["number"], a["number"], c["number"]]
    assert await numbers("ORDERBYDESCpriority") == [c["number"], b["number"], a["number"]]  # 5, 4 and 1
    assert await numbers("state!=1") == [c["number"]]
    assert await numbers("correlation_idISEMPTY") == [b["number"]]
    assert await numbers("correlation_idISNOTEMPTY^assignment_groupISEMPTY") == [c["number"]]
    assert await numbers(f"assignment_group={group_id(sn, 'Payments Team')}") == [b["number"]]
    assert await numbers("assignment_group=Payments Team") == []  # references compare sys_ids ...
    assert await numbers("assignment_group.name=Payments Team") == [b["number"]]  # ... or dot-walk
    assert await numbers("correlation_id=Q1^NQstate=2") == [a["number"], c["number"]]
    assert await numbers("priority<3") == [a["number"]]
    assert await numbers("no_such_field=1") == []  # an invalid condition matches nothing
    assert await numbers("correlation_id~Q1") == []
    assert await numbers("ORDERBYDESCsys_created_on^ORDERBYDESCnumber") == [c["number"], b["number"], a["number"]]

    status, page, headers = await sn.call("GET", f"{TABLE}/incident", params={
        "sysparm_limit": "2", "sysparm_offset": "1", "sysparm_fields": "number,state,assignment_group.name"})
    assert status == 200 and headers["X-Total-Count"] == "3" and "Link" not in headers
    assert page["result"] == [{"number": b["number"], "state": "1", "assignment_group.name": "Payments Team"},
                              {"number": c["number"], "state": "2", "assignment_group.name": ""}]
    status, page, headers = await sn.call("GET", f"{TABLE}/incident", params={"sysparm_limit": "1"})
    assert len(page["result"]) == 1 and 'rel="next"' in headers["Link"] and "sysparm_offset=1" in headers["Link"]
    assert (await sn.call("GET", f"{TABLE}/incident", params={"sysparm_limit": "many"}))[0] == 400


async def test_display_values(sn: Sn) -> None:
    record = await sn.create(short_description="x", assignment_group="Basket Team", impact="2", urgency="1")
    path = f"{TABLE}/incident/{record['sys_id']}"
    fields = "state,impact,priority,assignment_group,caller_id"
    shown = await sn.ok("GET", path, params={"sysparm_display_value": "true", "sysparm_fields": fields})
    link = record["assignment_group"]["link"]
    assert shown == {"state": "New", "impact": "2 - Medium", "priority": "2 - High",
                     "assignment_group": {"display_value": "Basket Team", "link": link}, "caller_id": ""}
    both = await sn.ok("GET", path, params={"sysparm_display_value": "all", "sysparm_fields": fields})
    assert both["state"] == {"display_value": "New", "value": "1"}
    assert both["assignment_group"] == {"display_value": "Basket Team", "link": link,
                                        "value": record["assignment_group"]["value"]}
    assert both["caller_id"] == {"display_value": "", "value": ""}
    bare = await sn.ok("GET", path, params={"sysparm_exclude_reference_link": "true", "sysparm_fields": fields})
    assert bare["assignment_group"] == record["assignment_group"]["value"]
    named = await sn.ok("GET", path, params={"sysparm_exclude_reference_link": "true", "sysparm_fields": fields,
                                             "sysparm_display_value": "true"})
    assert named["assignment_group"] == "Basket Team"


async def test_assignment_groups_table(sn: Sn) -> None:
    groups = await sn.ok("GET", f"{TABLE}/sys_user_group", params={"sysparm_query": "name=Payments Team"})
    assert [g["name"] for g in groups] == ["Payments Team"]
    assert re.fullmatch(r"[0-9a-f]{32}", groups[0]["sys_id"]) and groups[0]["active"] == "true"
    every = await sn.ok("GET", f"{TABLE}/sys_user_group", params={"sysparm_query": "ORDERBYname"})
    assert [g["name"] for g in every] == sorted(GROUPS)
    one = await sn.ok("GET", f"{TABLE}/sys_user_group/{groups[0]['sys_id']}")
    assert one == groups[0]
    assert sn.emulator.add_group("Payments Team") == groups[0]["sys_id"]  # stable, no duplicate


async def test_incident_close_codes_by_release_and_the_read_acl(sn: Sn) -> None:
    """sys_choice: read-only, a row per language, the codes of the release chosen (Utah's older ones inactive), and a
    403 when its read ACL refuses the integration user."""
    params = {"sysparm_query": "name=incident^element=close_code^inactive=false^ORDERBYsequence",
              "sysparm_fields": "value,label"}

    async def offered() -> list[str]:
        return [c["value"] for c in await sn.ok("GET", f"{TABLE}/sys_choice", params=params)]
    upgraded = await offered()  # the default: an instance upgraded to Utah, the older codes kept active
    assert "Solved (Permanently)" in upgraded and "Duplicate" in upgraded and "Solution provided" in upgraded
    sn.emulator.use_close_codes("tokyo")
    assert "Duplicate" not in await offered() and (await offered())[:2] == ["Solved (Work Around)",
                                                                          "Solved (Permanently)"]
    sn.emulator.use_close_codes("utah")
    utah = await sn.ok("GET", f"{TABLE}/sys_choice", params=params)
    assert {"value": "Solution provided", "label": "Lösung bereitgestellt"} in utah  # its German row
    assert "Solved (Permanently)" not in {c["value"] for c in utah} and "Duplicate" in {c["value"] for c in utah}
    status, body, _ = await sn.call("POST", f"{TABLE}/sys_choice", json={"value": "Mine"})
    assert status == 405 and body["status"] == "failure"
    sn.emulator.choices_readable = False
    status, body, _ = await sn.call("GET", f"{TABLE}/sys_choice", params=params)
    assert (status, body["error"]["message"]) == (403, "Insufficient rights to query records")


def test_parse_query_edge_cases() -> None:
    query = parse_query("short_description=a^^b^ORcorrelation_id=x^EQ")
    assert [[(c.field, c.op, c.value) for c in group] for group in query.alternatives[0]] == [
        [("short_description", "=", "a^b"), ("correlation_id", "=", "x")]]
    first_or = parse_query("ORstate=1")  # an OR with nothing before it is just a condition on an unknown field
    assert not first_or.matches(lambda f: {"state": "1"}.get(f))
    assert parse_query("").matches(lambda f: None)
    assert parse_query("ORDERBYDESCnumber").order == [("number", True)]


# ---- faults and rate limiting -----------------------------------------------------------------------------------


async def test_injected_503_then_recovery(sn: Sn) -> None:
    sn.faults.add(Fault(service="servicenow", method="/api/now/table/incident", status=503, times=2))
    sn.faults.add(Fault(service="slack", status=500, times=5))  # another service's faults do not apply
    for _ in range(2):
        status, body, _ = await sn.call("POST", f"{TABLE}/incident", json={"short_description": "x"})
        assert status == 503 and body["status"] == "failure" and body["error"]["message"] == "Service Unavailable"
    assert sn.state()["incidents"] == []
    await sn.create(short_description="x")
    assert len(sn.state()["incidents"]) == 1


async def test_faults_are_scoped_by_path_and_come_after_authentication(sn: Sn) -> None:
    sn.faults.add(Fault(service="servicenow", method="/api/now/table/sys_journal_field", status=500, times=1))
    assert (await sn.call("GET", f"{TABLE}/sys_journal_field", auth=(USER, "x")))[0] == 401
    assert await sn.ok("GET", f"{TABLE}/incident") == []
    assert (await sn.call("GET", f"{TABLE}/sys_journal_field"))[0] == 500
    assert await sn.ok("GET", f"{TABLE}/sys_journal_field") == []


async def test_injected_429_has_retry_after(sn: Sn) -> None:
    sn.faults.add(Fault(service="servicenow", method="*", status=429, times=1, retry_after=7))
    status, body, headers = await sn.call("GET", f"{TABLE}/incident")
    assert status == 429 and headers["Retry-After"] == "7" and body["status"] == "failure"
    assert await sn.ok("GET", f"{TABLE}/incident") == []


async def test_rate_limit_per_minute(make_sn: MakeSn) -> None:
    sn: Sn = await make_sn(rate_limit_per_minute=2)
    assert await sn.ok("GET", f"{TABLE}/incident") == []
    sn.clock.advance(timedelta(seconds=20))
    assert await sn.ok("GET", f"{TABLE}/sys_user_group", params={"sysparm_query": "name=x"}) == []
    status, body, headers = await sn.call("GET", f"{TABLE}/incident")
    assert status == 429 and headers["Retry-After"] == "40" and headers["X-RateLimit-Limit"] == "2"
    assert body["error"]["message"] == "Rate limit exceeded"
    sn.clock.advance(timedelta(seconds=40))
    assert await sn.ok("GET", f"{TABLE}/incident") == []


# ---- the business rule's webhooks -------------------------------------------------------------------------------


async def test_webhooks_follow_every_save_in_order(sn: Sn, receiver: Receiver) -> None:
    record = await sn.create(short_description="Basket API 5xx", assignment_group="Basket Team",
                             correlation_id="Q1ABC", work_notes="Opened from PagerDuty")
    path = f"{TABLE}/incident/{record['sys_id']}"
    sn.clock.advance(timedelta(minutes=1))
    await sn.ok("PATCH", path, json={"state": "2"})
    await sn.ok("PATCH", path, json={"state": "2"})  # no change: not saved, no webhook
    status, _, _ = await sn.call("PATCH", path, json={"state": "6"})  # refused: no webhook
    assert status == 403
    control = await sn.ok("POST", f"/sandbox/servicenow/incidents/{record['sys_id']}/comments",
                          json={"text": "Customer reports checkout too", "user": "cs.agent"})
    assert control["sys_updated_by"] == "cs.agent"
    await sn.ok("PATCH", path, json={"state": "6", "close_code": "Solved (Permanently)", "close_notes": "Rolled back",
                                     "work_notes": "Resolved in PagerDuty"})
    await sn.emulator.drain_webhooks()

    payloads = receiver.payloads()
    assert [(p["operation"], p["state"], p["updated_by"], p["work_notes"], p["comments"]) for p in payloads] == [
        ("insert", "1", USER, "Opened from PagerDuty", ""),
        ("update", "2", USER, "", ""),
        ("update", "2", "cs.agent", "", "Customer reports checkout too"),
        ("update", "6", USER, "Resolved in PagerDuty", ""),
    ]
    assert payloads[0] == {
        "table": "incident", "operation": "insert", "sys_id": record["sys_id"], "number": "INC0010001",
        "short_description": "Basket API 5xx", "description": "", "state": "1", "impact": "3", "urgency": "3",
        "assignment_group": "Basket Team", "category": "inquiry", "correlation_id": "Q1ABC",
        "x_pd_integration_incident": "", "updated_by": USER, "updated_on": "2026-03-02 09:30:00",
        "work_notes": "Opened from PagerDuty", "comments": "", "close_notes": "", "previous_state": "",
        "previous_group": "", "previous_impact": "", "previous_urgency": ""}
    assert payloads[1]["updated_on"] == "2026-03-02 09:31:00"
    # What the ticket was before each update: the bot tells the desk resolving or reassigning it from these.
    assert [(p["previous_state"], p["previous_group"]) for p in payloads[1:]] == [
        ("1", "Basket Team"), ("2", "Basket Team"), ("2", "Basket Team")]
    # And its levels before, so the bot can tell the desk raising it (a raise pages its team louder).
    assert {(p["previous_impact"], p["previous_urgency"]) for p in payloads[1:]} == {("3", "3")}
    assert payloads[3]["close_notes"] == "Rolled back"
    ids = [r.headers["X-ServiceNow-Delivery"] for r in receiver.received]
    assert len(set(ids)) == 4 and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    deliveries = sn.state()["webhook_deliveries"]
    assert [(d["id"], d["status"], d["attempts"], d["http_status"]) for d in deliveries] == [
        (i, "delivered", 1, 200) for i in ids]
    assert deliveries[0]["number"] == "INC0010001" and deliveries[0]["operation"] == "insert"


async def test_webhook_retries_keep_the_id_and_hold_back_later_ones(sn: Sn, receiver: Receiver) -> None:
    receiver.answers = [503, 500, 200, 401]
    first = await sn.create(short_description="first")
    second = await sn.create(short_description="second")
    third = await sn.create(short_description="third")
    await sn.emulator.drain_webhooks()
    assert [p["sys_id"] for p in receiver.payloads()] == [first["sys_id"]] * 3 + [second["sys_id"], third["sys_id"]]
    assert len({r.headers["X-ServiceNow-Delivery"] for r in receiver.received[:3]}) == 1
    assert len({r.body for r in receiver.received[:3]}) == 1
    deliveries = sn.state()["webhook_deliveries"]
    assert [(d["status"], d["attempts"], d["http_status"]) for d in deliveries] == [
        ("delivered", 3, 200), ("refused", 1, 401), ("delivered", 1, 200)]


async def test_webhooks_give_up_after_their_attempts(make_sn: MakeSn, receiver: Receiver) -> None:
    sn: Sn = await make_sn(webhook_max_attempts=2)
    receiver.answers = [502, 502, 502]
    await sn.create(short_description="x")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/servicenow/webhook"
    await sn.emulator.drain_webhooks()
    sn.emulator.webhook_url = closed
    await sn.create(short_description="y")
    await sn.emulator.drain_webhooks()
    sn.emulator.webhook_url = None
    await sn.create(short_description="z")
    await sn.emulator.drain_webhooks()
    deliveries = sn.state()["webhook_deliveries"]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("failed", 2), ("failed", 2), ("no_webhook_url", 0)]
    assert deliveries[0]["http_status"] == 502 and deliveries[1]["error"].startswith("ClientConnectorError")
    assert len(receiver.received) == 2


# ---- control routes ---------------------------------------------------------------------------------------------


async def test_control_routes_act_as_a_person(sn: Sn, receiver: Receiver) -> None:
    status, body, _ = await sn.call("POST", "/sandbox/servicenow/incidents", json={
        "short_description": "Customer cannot pay", "assignment_group": "Payments Team", "category": "software",
        "caller": "jo.customer", "urgency": 1, "impact": "2", "description": "Card declined"}, headers={})
    assert status == 201
    record = body["result"]
    sys_id = record["sys_id"]
    assert (record["number"], record["priority"], record["sys_created_by"]) == ("INC0010001", "2", "service.desk")
    status, body, _ = await sn.call("POST", f"/sandbox/servicenow/incidents/{sys_id}/work_notes",
                                    json={"text": "Paged Payments"}, headers={})
    assert status == 201 and body["result"]["work_notes"] == ""
    updated = await sn.ok("PATCH", f"/sandbox/servicenow/incidents/{sys_id}",
                          json={"assignment_group": "Basket Team", "user": "cs.lead"}, headers={})
    assert updated["sys_updated_by"] == "cs.lead"

    for path, payload in (("/sandbox/servicenow/incidents", {"assignment_group": "Payments Team"}),
                          ("/sandbox/servicenow/incidents", {"short_description": "x", "assignment_group": "Nope"}),
                          (f"/sandbox/servicenow/incidents/{sys_id}/comments", {"text": " "})):
        status, body, _ = await sn.call("POST", path, json=payload, headers={})
        assert status == 400 and body["status"] == "failure", payload
    status, body, _ = await sn.call("POST", f"/sandbox/servicenow/incidents/{'f' * 32}/comments",
                                    json={"text": "hi"}, headers={})
    assert (status, body) == (404, NOT_FOUND)

    incident = sn.state()["incidents"][0]
    assert incident["caller"] == "jo.customer" and incident["assignment_group"] == "Basket Team"
    assert incident["work_notes"] == [{"value": "Paged Payments", "created_by": "service.desk",
                                       "created_on": "2026-03-02 09:30:00"}]
    await sn.emulator.drain_webhooks()
    assert [(p["operation"], p["assignment_group"], p["updated_by"], p["work_notes"]) for p in receiver.payloads()] == [
        ("insert", "Payments Team", "service.desk", ""), ("update", "Payments Team", "service.desk", "Paged Payments"),
        ("update", "Basket Team", "cs.lead", "")]
    assert receiver.payloads()[0]["category"] == "software" and receiver.payloads()[0]["urgency"] == "1"


async def test_ticket_page_and_link(sn: Sn) -> None:
    record = await sn.create(short_description="Basket <API> 5xx", work_notes="a note")
    status, _, headers = await sn.call("GET", "/sandbox/servicenow/nav_to.do",
                                       params={"uri": f"incident.do?sys_id={record['sys_id']}"}, headers={})
    assert status == 302 and headers["Location"] == f"/sandbox/servicenow/incident.do?sys_id={record['sys_id']}"
    async with sn.session.get(sn.url(headers["Location"])) as page:
        text = await page.text()
    assert page.status == 200 and "INC0010001 Basket &lt;API&gt; 5xx" in text and "a note" in text
    assert (await sn.call("GET", "/sandbox/servicenow/incident.do", params={"sys_id": "x"}, headers={}))[0] == 404


async def test_snapshot(sn: Sn) -> None:
    record = await sn.create(short_description="x", assignment_group="Basket Team", correlation_id="Q1",
                             x_pd_integration_incident="Q1", work_notes="n")
    await sn.emulator.drain_webhooks()
    state = sn.state()
    assert set(state) >= {"incidents", "groups", "webhook_deliveries", "calls"}
    assert state["incidents"] == [{
        "sys_id": record["sys_id"], "number": "INC0010001", "state": "1", "correlation_id": "Q1",
        "x_pd_integration_incident": "Q1", "short_description": "x", "description": "",
        "assignment_group": "Basket Team", "category": "inquiry", "close_code": "", "close_notes": "",
        "parent_incident": "", "impact": "3",
        "urgency": "3", "priority": "5", "caller": "",
        "work_notes": [{"value": "n", "created_by": USER, "created_on": "2026-03-02 09:30:00"}], "comments": [],
        "attachments": [], "sys_created_by": USER, "sys_updated_by": USER, "sys_updated_on": "2026-03-02 09:30:00"}]
    assert [g["name"] for g in state["groups"]] == list(GROUPS)
    assert state["calls"] == {"POST /api/now/table/incident": 1}
    json.dumps(state)  # served as JSON by GET /sandbox/state


# ---- the script a customer pastes -------------------------------------------------------------------------------

NODE_HARNESS = r"""
const crypto = require('crypto');
const vm = require('vm');
const fixture = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const sent = [], logged = [];
const statuses = fixture.statuses.slice();
global.gs = {
  getProperty: (name) => fixture.properties[name],
  warn: (m) => logged.push(m), error: (m) => logged.push(m), generateGUID: () => 'a'.repeat(32),
};
global.GlideStringUtil = {base64Encode: (s) => Buffer.from(s, 'utf8').toString('base64')};
global.GlideCertificateEncryption = function () {
  this.generateMac = (key, algorithm, data) => {
    if (algorithm !== 'HmacSHA256') throw new Error('algorithm ' + algorithm);
    return crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(data, 'utf8').digest('base64');
  };
};
global.sn_ws = {RESTMessageV2: function () {
  const request = {headers: {}};
  this.setEndpoint = (url) => { request.url = url; };
  this.setHttpMethod = (method) => { request.method = method; };
  this.setHttpTimeout = (ms) => { request.timeout = ms; };
  this.setRequestHeader = (name, value) => { request.headers[name] = value; };
  this.setRequestBody = (body) => { request.body = body; };
  this.execute = () => {
    sent.push(request);
    const status = statuses.length ? statuses.shift() : 200;
    if (status === 0) throw new Error('connection refused');
    return {getStatusCode: () => status};
  };
}};
const journal = (name) => ({
  changes: () => fixture.journal[name] !== null,
  getJournalEntry: (n) => fixture.journal[name],
});
global.current = {
  getValue: (name) => (name in fixture.values && fixture.values[name] !== '' ? fixture.values[name] : null),
  operation: () => fixture.operation,
  assignment_group: {nil: () => !fixture.group, getDisplayValue: () => fixture.group},
  work_notes: journal('work_notes'),
  comments: journal('comments'),
};
global.previous = fixture.previous === undefined ? null : {
  getValue: (name) => (fixture.previous.values[name] || null),
  assignment_group: {nil: () => !fixture.previous.group, getDisplayValue: () => fixture.previous.group},
};
vm.runInThisContext(fixture.script);
process.stdout.write(JSON.stringify({sent, logged}));
"""


def run_business_rule(fixture: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, "-e", NODE_HARNESS], input=json.dumps(fixture | {"script": BUSINESS_RULE_SCRIPT}),
                          capture_output=True, text=True, timeout=30, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the business rule's JavaScript")
async def test_business_rule_script_sends_what_the_emulator_sends(sn: Sn, receiver: Receiver) -> None:
    """Run BUSINESS_RULE_SCRIPT with ServiceNow's APIs stubbed as documented (generateMac takes a Base64 key and
    answers Base64; getJournalEntry(1) is "<date> - <user> (<label>)\\n<text>\\n\\n"): its body must be byte for
    byte what the emulator sent, and its signature the same."""
    record = await sn.create(short_description="Café «checkout» down ☕ 😀", assignment_group="Payments Team",
                             correlation_id="Q1ABC", description='quotes " and \\ and\nnewline\ttab')
    sn.clock.advance(timedelta(minutes=2))
    await sn.ok("PATCH", f"{TABLE}/incident/{record['sys_id']}",
                json={"state": "2", "work_notes": "Line one\nline two — naïve"})
    await sn.emulator.drain_webhooks()
    row = sn.emulator.tables["incident"][record["sys_id"]]
    entry = "2026-03-02 09:32:00 - Pavedroad Integration (Work notes)\nLine one\nline two — naïve\n\n"
    fixture = {
        "values": row, "operation": "update", "group": "Payments Team", "statuses": [0, 503, 200],
        "previous": {"values": {"state": "1", "impact": "3", "urgency": "3"}, "group": "Payments Team"},
        "journal": {"work_notes": entry, "comments": None},
        "properties": {"pavedroad.servicenow.webhook_url": receiver.url,
                       "pavedroad.servicenow.webhook_secret": SECRET},
    }
    result = run_business_rule(fixture)
    sent = result["sent"]
    assert len(sent) == 3 and result["logged"] == []  # a refused connection and a 503 are retried
    expected = receiver.received[1]
    assert all(s["body"].encode() == expected.body for s in sent)
    assert all(s["headers"]["X-ServiceNow-Signature"] == expected.headers["X-ServiceNow-Signature"] for s in sent)
    assert len({s["headers"]["X-ServiceNow-Delivery"] for s in sent}) == 1
    assert sent[0]["url"] == receiver.url and sent[0]["method"] == "post"
    assert sent[0]["headers"]["Content-Type"] == "application/json"
    assert expected.body.isascii() and expected.payload["short_description"] == "Café «checkout» down ☕ 😀"

    # An insert with no group and no journal entries; a 4xx is not retried.
    bare = {"values": {"sys_id": "b" * 32, "number": "INC0010009", "state": "1"}, "operation": "insert",
            "group": "", "statuses": [401], "journal": {"work_notes": None, "comments": None},
            "properties": fixture["properties"]}
    result = run_business_rule(bare)
    assert len(result["sent"]) == 1 and "HTTP 401" in result["logged"][0]
    body = result["sent"][0]["body"]
    assert json.loads(body) == {
        "table": "incident", "operation": "insert", "sys_id": "b" * 32, "number": "INC0010009",
        "short_description": "", "description": "", "state": "1", "impact": "", "urgency": "",
        "assignment_group": "", "category": "", "correlation_id": "", "x_pd_integration_incident": "",
        "updated_by": "", "updated_on": "", "work_notes": "", "comments": "", "close_notes": "", "previous_state": "",
        "previous_group": "", "previous_impact": "", "previous_urgency": ""}
    assert result["sent"][0]["headers"]["X-ServiceNow-Signature"] == servicenow_signature(SECRET, body.encode())

    missing = run_business_rule(bare | {"properties": {}})
    assert missing["sent"] == [] and "webhook_url" in missing["logged"][0]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the business rule's JavaScript")
async def test_business_rule_script_cuts_long_texts_as_the_emulator_does(sn: Sn, receiver: Receiver) -> None:
    """Found in review: a ticket whose description is a monitoring tool's whole payload (mediumtext: ServiceNow keeps
    it whole) made every delivery bigger than the bot's 256 KB; refused (413), never retried, nobody paged. The
    script cuts the long texts (never half a character: the cut here falls inside an emoji's surrogate pair), and
    its body is byte for byte the emulator's."""
    dump = "x" * 1999 + "😀" + "frame at PaymentGateway.authorise\n" * 10_000
    record = await sn.create(short_description="Card payments failing", assignment_group="Payments Team",
                             description=dump)
    note = "Gateway log: " + "timeout; " * 20_000
    await sn.ok("PATCH", f"{TABLE}/incident/{record['sys_id']}", json={"work_notes": note})
    await sn.emulator.drain_webhooks()
    fixture = {
        "values": sn.emulator.tables["incident"][record["sys_id"]], "operation": "update", "group": "Payments Team",
        "statuses": [200],
        "previous": {"values": {"state": "1", "impact": "3", "urgency": "3"}, "group": "Payments Team"},
        "journal": {"work_notes": f"2026-03-02 09:30:00 - Pavedroad Integration (Work notes)\n{note}\n\n",
                    "comments": None},
        "properties": {"pavedroad.servicenow.webhook_url": receiver.url,
                       "pavedroad.servicenow.webhook_secret": SECRET},
    }
    [sent] = run_business_rule(fixture)["sent"]
    expected = receiver.received[1]
    assert sent["body"].encode() == expected.body and len(expected.body) < 64 * 1024
    assert expected.payload["description"] == "x" * 1999 + CUT
    assert expected.payload["work_notes"] == note[:16_000] + CUT


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the business rule's JavaScript")
async def test_with_the_integration_user_property_the_bots_own_updates_are_not_sent(sn: Sn,
                                                                                   receiver: Receiver) -> None:
    """The script and the emulator agree: an update by the integration user is not sent back to the bot; a person's
    update of the same ticket is."""
    sn.emulator.integration_user = USER
    record = await sn.create(short_description="Checkout down", assignment_group="Payments Team")
    await sn.ok("PATCH", f"{TABLE}/incident/{record['sys_id']}", json={"work_notes": "the bot's note"})
    await sn.emulator.drain_webhooks()
    assert receiver.received == [] and sn.state()["webhook_deliveries"] == []
    properties = {"pavedroad.servicenow.webhook_url": receiver.url, "pavedroad.servicenow.webhook_secret": SECRET,
                  "pavedroad.servicenow.integration_user": USER}
    ours = {"values": sn.emulator.tables["incident"][record["sys_id"]], "operation": "update",
            "group": "Payments Team", "statuses": [200], "journal": {"work_notes": None, "comments": None},
            "properties": properties}
    assert run_business_rule(ours) == {"sent": [], "logged": []}

    sn.emulator.tables["incident"][record["sys_id"]]["sys_updated_by"] = "jane.agent"
    theirs = ours | {"values": sn.emulator.tables["incident"][record["sys_id"]]}
    assert len(run_business_rule(theirs)["sent"]) == 1
    sn.emulator.integration_user = None  # the property unset: everything is sent, the bot's own updates included
    await sn.ok("PATCH", f"{TABLE}/incident/{record['sys_id']}", json={"work_notes": "another note"})
    await sn.emulator.drain_webhooks()
    assert [r.payload["updated_by"] for r in receiver.received] == [USER]


# ----- the Attachment API --------------------------------------------------------------------------------------

ATTACH = "/sandbox/servicenow/api/now/attachment"


async def test_an_attachment_is_created_listed_read_back_and_shown_on_the_ticket(make_sn: MakeSn) -> None:
    sn = await make_sn()
    ticket = await sn.create(short_description="Checkout down")
    status, body, headers = await sn.call(
        "POST", f"{ATTACH}/file", params={"table_name": "incident", "table_sys_id": ticket["sys_id"],
                                          "file_name": "review.md"},
        headers={"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD), "Content-Type": "text/markdown"},
        data=b"# Review\n")
    assert status == 201, body
    created = body["result"]
    assert (created["file_name"], created["table_name"], created["table_sys_id"], created["content_type"],
            created["size_bytes"]) == ("review.md", "incident", ticket["sys_id"], "text/markdown", "9")
    assert headers["Location"].endswith(f"/api/now/attachment/{created['sys_id']}")
    listed = await sn.ok("GET", ATTACH, params={"sysparm_query": f"table_sys_id={ticket['sys_id']}"})
    assert [a["sys_id"] for a in listed] == [created["sys_id"]]
    assert await sn.ok("GET", ATTACH, params={"sysparm_query": "table_sys_id=nothing"}) == []
    async with sn.session.get(sn.url(f"{ATTACH}/{created['sys_id']}/file"),
                              headers={"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}) as read:
        assert read.status == 200 and await read.read() == b"# Review\n"
    [shown] = sn.state()["incidents"][0]["attachments"]
    assert (shown["file_name"], shown["size_bytes"], shown["created_by"]) == ("review.md", 9, USER)


@pytest.mark.parametrize(("params", "content_type", "data", "status", "detail"), [
    ({"table_name": "incident", "file_name": "r.md"}, "text/markdown", b"x", 400, "table_sys_id"),
    ({"table_name": "incident", "table_sys_id": "SYS", "file_name": "r.md"}, "", b"x", 400, "Content-Type"),
    ({"table_name": "incident", "table_sys_id": "0" * 32, "file_name": "r.md"}, "text/markdown", b"x", 400,
     "Invalid table name or sys_id"),
    ({"table_name": "incident", "table_sys_id": "SYS", "file_name": "r.md"}, "text/markdown", b"", 400, "empty"),
])
async def test_the_attachment_api_refuses_what_servicenow_refuses(make_sn: MakeSn, params: dict[str, str],
                                                                  content_type: str, data: bytes, status: int,
                                                                  detail: str) -> None:
    sn = await make_sn()
    ticket = await sn.create(short_description="Checkout down")
    params = {k: ticket["sys_id"] if v == "SYS" else v for k, v in params.items()}
    headers = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}
    if content_type:
        headers["Content-Type"] = content_type
    # Without one, aiohttp would add application/octet-stream of its own accord.
    answered, body, _ = await sn.call("POST", f"{ATTACH}/file", params=params, headers=headers, data=data,
                                      skip_auto_headers=() if content_type else ("Content-Type",))
    assert answered == status and detail in json.dumps(body)
    assert sn.state()["incidents"][0]["attachments"] == []


async def test_attachments_need_credentials_and_take_injected_faults(make_sn: MakeSn) -> None:
    sn = await make_sn()
    ticket = await sn.create(short_description="Checkout down")
    params = {"table_name": "incident", "table_sys_id": ticket["sys_id"], "file_name": "r.md"}
    answered, _, _ = await sn.call("POST", f"{ATTACH}/file", params=params, auth=(USER, "wrong"), data=b"x")
    assert answered == 401
    sn.faults.add(Fault(service="servicenow", method="POST /api/now/attachment/file", status=403, times=1))
    headers = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD), "Content-Type": "text/markdown"}
    refused, _, _ = await sn.call("POST", f"{ATTACH}/file", params=params, headers=headers, data=b"x")
    accepted, _, _ = await sn.call("POST", f"{ATTACH}/file", params=params, headers=headers, data=b"x")
    assert (refused, accepted) == (403, 201)
