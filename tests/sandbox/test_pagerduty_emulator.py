"""The PagerDuty emulator, driven by the real `pagerduty.RestApiV2Client` and checked against PagerDuty's contract:
the official OpenAPI description, its documented error codes and rate limiting, and v3 webhook delivery. The
fixtures (`pd`, `client`, `make_sandbox`, `pd_receiver`) are in conftest.py, shared with the _admin and _schedules
modules."""

from __future__ import annotations

import json
import re
import socket
from datetime import timedelta
from typing import Any, cast

import aiohttp
import pagerduty
import pytest

from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.pagerduty.openapi import SPEC_PATH, PagerDutyRequestValidator, load_pagerduty_validator
from sandbox.pagerduty.webhooks import sign
from tests.helpers import FIXTURES
from tests.sandbox.pagerduty_env import (
    ASHA,
    BEN,
    ERIN,
    FATIMA,
    TOKEN,
    MakePd,
    PagerDutyReceiver,
    PdSandbox,
    call,
    error_of,
    rest_client,
    user_id,
    verify,
)

ACCEPT = "application/vnd.pagerduty+json;version=2"


def state(pd: PdSandbox) -> dict[str, Any]:
    """The snapshot, as GET /sandbox/state serves it (JSON: loosely typed on purpose)."""
    return cast(dict[str, Any], pd.emulator.snapshot())


async def create_incident(client: pagerduty.RestApiV2Client, title: str = "Basket API 5xx", *,
                          service: str = "PBASKET", user: str = ASHA, **extra: Any) -> dict[str, Any]:
    body = {"type": "incident", "title": title, "service": {"id": service, "type": "service_reference"}} | extra
    created: dict[str, Any] = await call(client.rpost, "/incidents", json={"incident": body}, headers={"From": user})
    return created


# ---- the OpenAPI validator -------------------------------------------------------------------------------------

HEADERS = {"Accept": ACCEPT, "Authorization": f"Token token={TOKEN}", "Content-Type": "application/json"}


def test_validator_refuses_what_pagerduty_refuses(validator: PagerDutyRequestValidator) -> None:
    ack = json.dumps({"incident": {"type": "incident", "status": "acknowledged"}}).encode()
    assert validator.validate("PUT", "/incidents/Q1", "", HEADERS, ack) is not None
    assert "From" in (validator.validate("PUT", "/incidents/Q1", "", HEADERS, ack) or "")
    assert validator.validate("PUT", "/incidents/Q1", "", HEADERS | {"From": "not-an-email"}, ack) is not None
    assert validator.validate("PUT", "/incidents/Q1", "", HEADERS | {"From": ASHA}, ack) is None

    no_requester = json.dumps({"message": "help", "responder_request_targets": []}).encode()
    reason = validator.validate("POST", "/incidents/Q1/responder_requests", "", HEADERS, no_requester)
    assert reason is not None and "requester_id" in reason

    assert validator.validate("GET", "/incidents", "statuses[]=bogus", HEADERS, None) is not None
    assert validator.validate("GET", "/incidents", "statuses[]=triggered&statuses[]=acknowledged", HEADERS,
                              None) is None


def test_validator_is_loaded_once(validator: PagerDutyRequestValidator) -> None:
    assert load_pagerduty_validator() is validator


def test_pagerdutys_own_request_examples_pass(validator: PagerDutyRequestValidator) -> None:
    """The in-memory fixes must not make the validator refuse the spec's documented requests."""
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    operations = [("POST", "/incidents"), ("PUT", "/incidents/{id}"), ("POST", "/incidents/{id}/notes"),
                  ("POST", "/incidents/{id}/responder_requests")]
    for method, template in operations:
        content = spec["paths"][template][method.lower()]["requestBody"]["content"]["application/json"]
        for example in content["examples"].values():
            body = json.dumps(example["value"]).encode()
            path = template.replace("{id}", "Q1ABCDEFGHIJKL")
            assert validator.validate(method, path, "", HEADERS | {"From": ASHA}, body) is None, (method, template)


def test_content_type_with_charset_is_accepted(validator: PagerDutyRequestValidator) -> None:
    note = json.dumps({"note": {"content": "hi"}}).encode()
    headers = HEADERS | {"From": ASHA, "Content-Type": "application/json; charset=utf-8"}
    assert validator.validate("POST", "/incidents/Q1/notes", "", headers, note) is None


# ---- authentication, routing, errors ---------------------------------------------------------------------------


async def test_wrong_token_is_401_and_the_client_gives_up(pd: PdSandbox) -> None:
    with rest_client(pd, token="wrong") as bad, pytest.raises(pagerduty.HttpError) as raised:
        await call(bad.rget, "/users")
    assert error_of(raised) == (401, {"message": "Authentication failed", "code": 2006, "errors": []})


async def test_missing_authorization_is_401(pd: PdSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.get(
            pd.url("/sandbox/pagerduty/api/users"), headers={"Accept": ACCEPT}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == 2006


async def test_unknown_ids_and_paths_are_404(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    for path in ("/users/PNOPE00", "/incidents/QNOPE", "/services/PNOPE", "/escalation_policies/PNOPE",
                 "/incidents/QNOPE/notes", "/tags"):
        with pytest.raises(pagerduty.HttpError) as raised:
            await call(client.rget, path)
        status, error = error_of(raised)
        assert (status, error["message"], error["code"]) == (404, "Not Found", 2100), path


# ---- users, services, escalation policies, on-calls, schedules --------------------------------------------------


async def test_users_are_the_pagerduty_people_with_stable_ids(pd: PdSandbox,
                                                              client: pagerduty.RestApiV2Client) -> None:
    users = await call(client.list_all, "/users", page_size=2)  # three pages: `more` drives the client
    emails = [u["email"] for u in users]
    assert emails == [ASHA, BEN, "chloe.martin@example.com", "dev.sharma@example.com", ERIN, FATIMA,
                      "servicenow.integration@example.com"]
    assert "gary.lind@example.com" not in emails  # in Slack only
    assert all(re.fullmatch(r"P[0-9A-Z]{6}", u["id"]) and u["type"] == "user" for u in users)
    assert users[0]["id"] == user_id(pd, ASHA)

    found = await call(client.find, "users", ERIN, attribute="email")
    assert found is not None and found["name"] == "Erin Walsh"
    one = await call(client.rget, f"/users/{found['id']}")
    assert one["email"] == ERIN and one["summary"] == "Erin Walsh"
    assert one["self"].endswith(f"/sandbox/pagerduty/api/users/{found['id']}")


async def test_page_shape(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    page = await call(client.jget, "/users", params={"limit": 4, "offset": 4, "total": "true"})
    assert (page["limit"], page["offset"], page["more"], page["total"], len(page["users"])) == (4, 4, False, 7, 3)
    first = await call(client.jget, "/users", params={"limit": 4})
    assert first["more"] is True and first["total"] is None


async def test_services_and_escalation_policies(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    services = await call(client.list_all, "/services")
    assert {s["id"]: s["escalation_policy"]["id"] for s in services} == {
        "PBASKET": "PBASKEP", "PCHECKO": "PPAYMEP", "PDELIVS": "PDELVEP", "PREFUND": "PREFNEP", "PELECTR": "PELECEP",
        "PFASHIO": "PFASHEP", "PUPHOLS": "PUPHOEP", "PWAREHS": "PWAREEP", "PDELTRK": "PDTRKEP", "PSIGNIN": "PACCTEP",
        "PSEARCH": "PSRCHEP", "PRECOMM": "PSRCHEP"}
    checkout = await call(client.rget, "/services/PCHECKO")
    assert checkout["name"] == "Checkout" and checkout["type"] == "service"

    policy = await call(client.rget, "/escalation_policies/PBASKEP")
    targets = policy["escalation_rules"][0]["targets"]
    assert [t["id"] for t in targets] == [user_id(pd, ASHA), user_id(pd, FATIMA)]
    assert all(t["type"] == "user_reference" for t in targets)
    assert [s["id"] for s in policy["services"]] == ["PBASKET"]
    mine = await call(client.list_all, "/escalation_policies", params={"user_ids[]": [user_id(pd, ERIN)]})
    assert [p["id"] for p in mine] == ["PIMGR01"]


async def test_oncalls_filters(pd: PdSandbox, client: pagerduty.RestApiV2Client, catalogue: Catalogue) -> None:
    everyone = await call(client.list_all, "/oncalls")
    seed = catalogue.sandbox
    assert seed is not None
    assert len(everyone) == sum(len(p.on_call) for p in seed.escalation_policies)
    basket = await call(client.list_all, "/oncalls", params={"escalation_policy_ids": ["PBASKEP"]})
    assert [o["user"]["id"] for o in basket] == [user_id(pd, ASHA), user_id(pd, FATIMA)]
    assert all(o["escalation_level"] == 1 for o in basket)
    erin = await call(client.list_all, "/oncalls", params={"user_ids": [user_id(pd, ERIN)]})
    assert [o["escalation_policy"]["id"] for o in erin] == ["PIMGR01"]
    assert await call(client.list_all, "/oncalls", params={"schedule_ids": ["PSCHED1"]}) == []


async def test_schedules_are_the_seeded_ones(pd: PdSandbox, client: pagerduty.RestApiV2Client,
                                             catalogue: Catalogue) -> None:
    seed = catalogue.sandbox
    assert seed is not None
    assert [s["id"] for s in await call(client.list_all, "/schedules")] == [s.id for s in seed.schedules]
    assert [s.id for s in seed.schedules][:4] == ["PSBASKT", "PSPAYMT", "PSDELVT", "PSRETNT"]


# ---- incidents ---------------------------------------------------------------------------------------------------


async def test_create_incident(pd: PdSandbox, client: pagerduty.RestApiV2Client,
                               pd_receiver: PagerDutyReceiver) -> None:
    incident = await create_incident(client, urgency="low", body={"type": "incident_body", "details": "disk"})
    assert re.fullmatch(r"Q[0-9A-Z]{13}", incident["id"])
    assert incident["incident_number"] == 1 and incident["status"] == "triggered" and incident["urgency"] == "low"
    assert incident["summary"] == "[#1] Basket API 5xx"
    assert [a["assignee"]["id"] for a in incident["assignments"]] == [user_id(pd, ASHA),
                                                                       user_id(pd, FATIMA)]
    assert incident["html_url"] == pd.url(f"/sandbox/pagerduty/incidents/{incident['id']}")
    assert incident["priority"] is None and incident["created_at"] == "2026-03-02T09:30:00Z"
    assert incident["escalation_policy"]["id"] == "PBASKEP" and incident["service"]["id"] == "PBASKET"

    second = await create_incident(client, "Checkout down", service="PCHECKO")
    assert second["incident_number"] == 2
    assert [a["assignee"]["id"] for a in second["assignments"]] == [user_id(pd, BEN)]
    again = await call(client.rget, "/incidents/2")  # the number works as an id too
    assert again["id"] == second["id"]

    await pd.emulator.drain_webhooks()
    triggered = pd_receiver.events()[0]
    assert triggered["event_type"] == "incident.triggered"
    assert triggered["agent"]["id"] == user_id(pd, ASHA)


async def test_incident_key_deduplicates_open_incidents(client: pagerduty.RestApiV2Client) -> None:
    await create_incident(client, incident_key="disk-full")
    with pytest.raises(pagerduty.HttpError) as raised:
        await create_incident(client, incident_key="disk-full")
    status, error = error_of(raised)
    assert (status, error["code"]) == (400, 2001)
    assert error["errors"] == ["Open incident with matching dedup key already exists on this service"]
    # Another service, or once the first is resolved, the key is free.
    other = await create_incident(client, service="PCHECKO", incident_key="disk-full")
    assert other["incident_key"] == "disk-full"


async def test_create_needs_a_known_from_user(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    body = {"incident": {"type": "incident", "title": "x", "service": {"id": "PBASKET", "type": "service_reference"}}}
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, "/incidents", json=body)
    status, error = error_of(raised)
    assert (status, error["message"], error["code"]) == (400, "Invalid Input Provided", 2001)
    assert "From" in error["errors"][0]
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, "/incidents", json=body, headers={"From": "gary.lind@example.com"})
    assert error_of(raised)[1]["code"] == 1008  # Requester User Not Found: Gary has no PagerDuty account
    with pytest.raises(pagerduty.HttpError) as raised:
        await create_incident(client, service="PNOSUCH")
    assert error_of(raised)[0] == 400
    assert state(pd)["incidents"] == []


async def test_list_incidents_filters(client: pagerduty.RestApiV2Client) -> None:
    basket = await create_incident(client, incident_key="k1")
    checkout = await create_incident(client, "Checkout down", service="PCHECKO", user=BEN)
    await call(client.rput, f"/incidents/{checkout['id']}", json={"incident": {"type": "incident_reference",
                                                                               "status": "acknowledged"}},
               headers={"From": BEN})

    async def ids(**params: Any) -> list[str]:
        return [i["id"] for i in await call(client.rget, "/incidents", params=params)]

    assert await ids() == [basket["id"], checkout["id"]]
    assert await ids(statuses=["triggered"]) == [basket["id"]]
    assert await ids(statuses=["triggered", "acknowledged"]) == [basket["id"], checkout["id"]]
    assert await ids(service_ids=["PCHECKO"]) == [checkout["id"]]
    assert await ids(incident_key="k1") == [basket["id"]]
    assert await ids(limit=1, offset=1) == [checkout["id"]]


async def test_acknowledge_and_resolve_with_pagerdutys_error_codes(
        pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    path = f"/incidents/{incident['id']}"

    async def put(status: str, user: str = FATIMA) -> dict[str, Any]:
        updated: dict[str, Any] = await call(
            client.rput, path, json={"incident": {"type": "incident_reference", "status": status}},
            headers={"From": user})
        return updated

    pd.clock.advance(timedelta(minutes=3))
    acked = await put("acknowledged")
    assert acked["status"] == "acknowledged"
    assert [a["acknowledger"]["id"] for a in acked["acknowledgements"]] == [user_id(pd, FATIMA)]
    assert [a["assignee"]["id"] for a in acked["assignments"]] == [user_id(pd, FATIMA)]  # she took it
    assert acked["last_status_change_at"] == "2026-03-02T09:33:00Z"

    with pytest.raises(pagerduty.HttpError) as raised:
        await put("acknowledged", ASHA)
    status, error = error_of(raised)
    assert (status, error["code"], error["message"]) == (400, 1002, "Incident Already Acknowledged")

    resolved = await put("resolved", ASHA)
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == "2026-03-02T09:33:00Z"
    assert resolved["last_status_change_by"]["id"] == user_id(pd, ASHA)
    for again in ("resolved", "acknowledged"):
        with pytest.raises(pagerduty.HttpError) as raised:
            await put(again)
        status, error = error_of(raised)
        assert (status, error["code"], error["message"]) == (400, 1001, "Incident Already Resolved")

    snapshot = state(pd)
    [row] = snapshot["incidents"]
    assert (row["acknowledged_by"], row["resolved_by"]) == (user_id(pd, FATIMA), user_id(pd, ASHA))
    changes = [(e["type"], (e["agent"] or {}).get("id")) for e in snapshot["log_entries"]
               if e["type"] in ("acknowledge_log_entry", "resolve_log_entry")]
    assert changes == [("acknowledge_log_entry", user_id(pd, FATIMA)),
                       ("resolve_log_entry", user_id(pd, ASHA))]


async def test_put_without_from_is_refused_by_the_contract(pd: PdSandbox,
                                                           client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rput, f"/incidents/{incident['id']}",
                   json={"incident": {"type": "incident_reference", "status": "resolved"}})
    status, error = error_of(raised)
    assert (status, error["message"], error["code"]) == (400, "Invalid Input Provided", 2001)
    assert error["errors"] == ["You must specify a user's email address in the \"From\" header to perform this action"]
    assert state(pd)["incidents"][0]["status"] == "triggered"


async def test_put_with_a_bad_status_is_refused(client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rput, f"/incidents/{incident['id']}",
                   json={"incident": {"type": "incident_reference", "status": "fixed"}}, headers={"From": ASHA})
    status, error = error_of(raised)
    assert (status, error["code"]) == (400, 2001) and "fixed" in error["errors"][0]


async def test_reopen_when_the_account_allows_it(make_sandbox: MakePd) -> None:
    pd = await make_sandbox(allow_reopen=True)
    with rest_client(pd) as client:
        incident = await create_incident(client)
        path = f"/incidents/{incident['id']}"
        await call(client.rput, path, json={"incident": {"type": "incident", "status": "resolved"}},
                   headers={"From": ASHA})
        reopened = await call(client.rput, path, json={"incident": {"type": "incident", "status": "acknowledged"}},
                              headers={"From": BEN})
    assert reopened["status"] == "acknowledged" and reopened["resolved_at"] is None
    assert [a["assignee"]["id"] for a in reopened["assignments"]] == [user_id(pd, BEN)]


async def test_priority_and_reassignment(pd: PdSandbox, client: pagerduty.RestApiV2Client,
                                         pd_receiver: PagerDutyReceiver) -> None:
    incident = await create_incident(client)
    path = f"/incidents/{incident['id']}"
    updated = await call(client.rput, path, json={"incident": {"type": "incident", "priority": "P1"}},
                         headers={"From": ASHA})
    assert updated["priority"]["summary"] == "P1"
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rput, path, json={"incident": {"type": "incident", "priority": "P9"}},
                   headers={"From": ASHA})
    assert error_of(raised)[1]["code"] == 1020
    erin = {"assignee": {"id": user_id(pd, ERIN), "type": "user_reference"}}
    moved = await call(client.rput, path, json={"incident": {"type": "incident", "assignments": [erin]}},
                       headers={"From": ASHA})
    assert [a["assignee"]["id"] for a in moved["assignments"]] == [user_id(pd, ERIN)]
    await pd.emulator.drain_webhooks()
    assert pd_receiver.types() == ["incident.triggered", "incident.priority_updated", "incident.reassigned"]
    assert pd_receiver.events()[1]["data"]["priority"]["type"] == "priority_reference"


async def test_notes(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    path = f"/incidents/{incident['id']}/notes"
    note = await call(client.rpost, path, json={"note": {"content": "Rolled back"}}, headers={"From": BEN})
    assert note["content"] == "Rolled back" and note["user"]["id"] == user_id(pd, BEN)
    notes = await call(client.rget, path)
    assert [n["content"] for n in notes] == ["Rolled back"]
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, path, json={"note": {"content": "anonymous"}})
    assert error_of(raised)[0] == 400
    entry = next(e for e in state(pd)["log_entries"]
                 if e["type"] == "annotate_log_entry")
    assert entry["agent"] == {"type": "user_reference", "id": user_id(pd, BEN)}


async def test_responder_requests(pd: PdSandbox, client: pagerduty.RestApiV2Client,
                                  pd_receiver: PagerDutyReceiver) -> None:
    incident = await create_incident(client)
    path = f"/incidents/{incident['id']}/responder_requests"
    target = {"responder_request_target": {"id": "PIMGR01", "type": "escalation_policy_reference"}}
    request = await call(client.rpost, path, json={"requester_id": user_id(pd, ASHA), "message": "Need an IM",
                                                   "responder_request_targets": [target]})
    assert request["requester"]["id"] == user_id(pd, ASHA)
    [rendered] = request["responder_request_targets"]
    assert rendered["responder_request_target"]["id"] == "PIMGR01"
    assert [r["user"]["id"] for r in rendered["responder_request_target"]["incident_responders"]] == [
        user_id(pd, ERIN)]

    with pytest.raises(pagerduty.HttpError) as raised:  # the contract requires requester_id
        await call(client.rpost, path, json={"message": "x", "responder_request_targets": [target]})
    status, error = error_of(raised)
    assert (status, error["code"]) == (400, 2001) and "requester_id" in error["errors"][0]
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, path, json={"requester_id": "PNOBODY", "message": "x",
                                             "responder_request_targets": [target]})
    assert error_of(raised)[1]["code"] == 1008

    await pd.emulator.drain_webhooks()
    added = pd_receiver.events()[-1]
    assert added["event_type"] == "incident.responder.added"
    assert added["data"]["type"] == "incident_responder" and added["data"]["user"]["id"] == user_id(pd, ERIN)
    assert added["data"]["escalation_policy"]["id"] == "PIMGR01"
    assert added["agent"]["id"] == user_id(pd, ASHA)
    [row] = state(pd)["responder_requests"]
    assert row["targets"] == [{"type": "escalation_policy_reference", "id": "PIMGR01"}]


async def test_log_entries(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    await call(client.rput, f"/incidents/{incident['id']}", json={"incident": {"type": "incident",
                                                                                "status": "acknowledged"}},
               headers={"From": ASHA})
    entries = await call(client.list_all, f"/incidents/{incident['id']}/log_entries")
    assert [e["type"] for e in entries] == ["acknowledge_log_entry", "assign_log_entry", "trigger_log_entry"]
    assert entries[0]["agent"]["id"] == user_id(pd, ASHA) and entries[0]["incident"]["id"] == incident["id"]


# ---- rate limiting and faults ------------------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_ratelimit_headers(make_sandbox: MakePd) -> None:
    pd = await make_sandbox(rate_limit_per_minute=3)
    with rest_client(pd) as client:
        ok = await call(client.get, "/users")
        assert (ok.status_code, ok.headers["ratelimit-limit"], ok.headers["ratelimit-remaining"]) == (200, "3", "2")
        await call(client.get, "/users")
        assert (await call(client.get, "/users")).headers["ratelimit-remaining"] == "0"
        limited = await call(client.get, "/users")  # and so does the client's one retry
        assert limited.status_code == 429
        assert limited.headers["ratelimit-remaining"] == "0" and int(limited.headers["ratelimit-reset"]) > 0
        assert "retry-after" not in limited.headers
        assert limited.json()["error"]["code"] == 2020
        pd.clock.advance(timedelta(seconds=61))
        assert (await call(client.get, "/users")).status_code == 200


async def test_rate_limit_can_be_disabled(make_sandbox: MakePd) -> None:
    pd = await make_sandbox(rate_limit_per_minute=0)
    with rest_client(pd) as client:
        response = await call(client.get, "/users")
    assert response.status_code == 200 and "ratelimit-limit" not in response.headers


async def test_injected_faults(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    pd.faults.add(Fault(service="pagerduty", method=f"/incidents/{incident['id']}/notes", status=503))
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rget, f"/incidents/{incident['id']}/notes")
    assert error_of(raised)[0] == 503 and error_of(raised)[1]["code"] == 2000
    assert await call(client.rget, f"/incidents/{incident['id']}/notes") == []  # one failure only

    # A 429 fault: no body (PagerDuty documents that this happens), but the ratelimit headers.
    pd.faults.add(Fault(service="pagerduty", method="/users", status=429, times=2, retry_after=7))
    response = await call(client.get, "/users")
    assert response.status_code == 429 and response.content == b""
    assert (response.headers["ratelimit-remaining"], response.headers["ratelimit-reset"]) == ("0", "7")
    assert "retry-after" not in response.headers

    pd.faults.add(Fault(service="pagerduty", method="/users", status=429, times=1))
    assert (await call(client.get, "/users")).status_code == 200  # the client's one retry gets through

    # A fault `after` the call: PagerDuty acts, and its answer is lost on the way back (a gateway's 502).
    pd.faults.add(Fault(service="pagerduty", method="POST /incidents", status=502, after=True))
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, f"/incidents/{incident['id']}/notes", json={"note": {"content": "on it"}},
                   headers={"From": FATIMA})
    assert error_of(raised)[0] == 502
    assert [n["content"] for n in await call(client.rget, f"/incidents/{incident['id']}/notes")] == ["on it"]


# ---- webhooks ----------------------------------------------------------------------------------------------------


async def test_webhooks_follow_the_incident_in_order_signed_and_attributed(
        pd: PdSandbox, client: pagerduty.RestApiV2Client, pd_receiver: PagerDutyReceiver) -> None:
    incident = await create_incident(client)
    path = f"/incidents/{incident['id']}"
    await call(client.rput, path, json={"incident": {"type": "incident", "status": "acknowledged"}},
               headers={"From": FATIMA})
    await call(client.rpost, f"{path}/notes", json={"note": {"content": "on it"}}, headers={"From": FATIMA})
    await call(client.rput, path, json={"incident": {"type": "incident", "status": "resolved"}},
               headers={"From": ASHA})
    await pd.emulator.drain_webhooks()

    assert pd_receiver.types() == ["incident.triggered", "incident.acknowledged", "incident.annotated",
                                "incident.resolved"]
    first = pd_receiver.received[0]
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["User-Agent"] == "PagerDuty-Webhook/V3.0"
    assert re.fullmatch(r"P[0-9A-Z]{6}", first.headers["X-Webhook-Subscription"])
    assert len({r.headers["X-Webhook-Id"] for r in pd_receiver.received}) == 4
    assert len(first.headers["X-PagerDuty-Signature"].split(",")) == 2  # one v1= per secret

    triggered, acked, note, resolved = pd_receiver.events()
    assert set(triggered) == {"id", "event_type", "resource_type", "occurred_at", "agent", "client", "data"}
    assert triggered["occurred_at"] == "2026-03-02T09:30:00.123Z" and triggered["resource_type"] == "incident"
    sample = json.loads((FIXTURES / "data.incident.json").read_text())
    assert set(triggered["data"]) >= set(sample) - {"reopened_at"}
    assert triggered["data"]["number"] == 1 and triggered["data"]["status"] == "triggered"
    assert acked["agent"]["id"] == user_id(pd, FATIMA) and acked["agent"]["type"] == "user_reference"
    assert acked["data"]["status"] == "acknowledged"
    assert note["data"]["type"] == "incident_note" and note["data"]["content"] == "on it"
    assert set(note["data"]) == set(json.loads((FIXTURES / "data.incident_note.json").read_text()))
    assert resolved["agent"]["id"] == user_id(pd, ASHA) and resolved["data"]["status"] == "resolved"
    deliveries = state(pd)["webhook_deliveries"]
    assert [(d["event_type"], d["status"], d["attempts"], d["incident_id"])
            for d in deliveries][:2] == [("incident.triggered", "delivered", 1, incident["id"]),
                                         ("incident.acknowledged", "delivered", 1, incident["id"])]


def test_signature_matches_pagerdutys_published_vector() -> None:
    vector = json.loads((FIXTURES / "signature-vector.json").read_text())
    assert sign([vector["secret"]], vector["body"].encode()) == vector["valid_header"]
    assert sign([vector["secret"]], vector["body"].encode()) != vector["invalid_header"]
    assert verify(vector["secret"], vector["body"].encode(), "v1=deadbeef, " + vector["valid_header"])


async def test_webhook_retries_keep_the_id_and_hold_back_later_events(
        pd: PdSandbox, pd_receiver: PagerDutyReceiver) -> None:
    pd_receiver.answers = [500, 429, 200]
    first = await pd.emulator.trigger(title="Basket slow")
    await pd.emulator.trigger(title="Checkout slow", service_id="PCHECKO")
    await pd.emulator.drain_webhooks()
    ids = [r.headers["X-Webhook-Id"] for r in pd_receiver.received]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # PagerDuty repeats X-Webhook-Id on every attempt
    assert [e["data"]["title"] for e in pd_receiver.events()] == ["Basket slow"] * 3 + ["Checkout slow"]
    deliveries = state(pd)["webhook_deliveries"]
    assert (deliveries[0]["incident_id"], deliveries[0]["status"], deliveries[0]["attempts"]) == (
        first["id"], "delivered", 3)
    assert pd_receiver.events()[0]["agent"]["type"] == "service_reference"  # triggered by an alert


async def test_webhook_4xx_is_dropped_and_three_drops_disable_the_subscription(
        pd: PdSandbox, pd_receiver: PagerDutyReceiver) -> None:
    pd_receiver.answers = [400, 404, 401]
    for n in range(4):
        await pd.emulator.trigger(title=f"incident {n}")
    await pd.emulator.drain_webhooks()
    assert len(pd_receiver.received) == 3  # no retries on 4xx; the fourth was never sent
    snapshot = state(pd)
    assert [d["status"] for d in snapshot["webhook_deliveries"]] == [
        "dropped", "dropped", "dropped", "discarded"]
    assert snapshot["webhook_subscription"]["disabled_until"] is not None

    async with aiohttp.ClientSession() as session, session.post(
            pd.url("/sandbox/pagerduty/webhooks/enable")) as response:
        assert response.status == 200
    await pd.emulator.trigger(title="after re-enabling")
    await pd.emulator.drain_webhooks()
    assert pd_receiver.types()[-1] == "incident.triggered" and len(pd_receiver.received) == 4


async def test_unreachable_receiver_is_retried_then_given_up(make_sandbox: MakePd) -> None:
    pd = await make_sandbox(webhook_max_attempts=3)
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pd.emulator.webhook_url = f"http://127.0.0.1:{port}/pagerduty/webhook"
    await pd.emulator.trigger(title="nobody home")
    await pd.emulator.drain_webhooks()
    [delivery] = state(pd)["webhook_deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3) and delivery["error"]


async def test_extra_events(pd: PdSandbox, pd_receiver: PagerDutyReceiver) -> None:
    incident = await pd.emulator.trigger(title="x")
    event_id = pd.emulator.emit_event("incident.escalated", incident["id"], user_email=ERIN)
    await pd.emulator.drain_webhooks()
    escalated = pd_receiver.events()[-1]
    assert escalated["id"] == event_id and escalated["event_type"] == "incident.escalated"
    assert escalated["agent"]["id"] == user_id(pd, ERIN) and escalated["data"]["id"] == incident["id"]

    pd.emulator.emit_event("incident.responder.replied", incident["id"], user_email=ERIN, text="On my way")
    pd.emulator.emit_event("incident.status_update_published", incident["id"], text="Fix deploying")
    await pd.emulator.drain_webhooks()
    replied, update = pd_receiver.events()[-2:]
    responder_keys = set(json.loads((FIXTURES / "data.incident_responder.json").read_text()))
    assert set(replied["data"]) == responder_keys and replied["data"]["state"] == "joined"
    assert replied["data"]["user"]["id"] == user_id(pd, ERIN) and replied["data"]["message"] == "On my way"
    assert update["agent"] is None and update["data"]["type"] == "incident_status_update"
    assert set(update["data"]) == set(json.loads((FIXTURES / "data.incident_status_update.json").read_text()))


# ---- control routes and snapshot ----------------------------------------------------------------------------------


async def test_control_routes_act_as_an_alert_and_as_a_person(pd: PdSandbox, pd_receiver: PagerDutyReceiver) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(pd.url("/sandbox/pagerduty/incidents"),
                                json={"service_id": "PDELIVS", "title": "Slots empty", "urgency": "low"}) as made:
            assert made.status == 201
            incident = (await made.json())["incident"]
        assert incident["service"]["id"] == "PDELIVS" and incident["urgency"] == "low"
        base = f"/sandbox/pagerduty/incidents/{incident['id']}"
        async with session.post(pd.url(f"{base}/acknowledge"), json={"user": "Chloe.Martin@example.com"}) as r:
            assert r.status == 200 and (await r.json())["incident"]["status"] == "acknowledged"
        async with session.post(pd.url(f"{base}/acknowledge"), json={}) as again:
            assert again.status == 400 and (await again.json())["error"]["code"] == 1002
        async with session.post(pd.url(f"{base}/resolve"), json={}) as r:  # default: the (only) assignee
            assert (await r.json())["incident"]["status"] == "resolved"
        async with session.post(pd.url(f"{base}/dance"), json={}) as r:
            assert r.status == 404
        async with session.get(pd.url(base)) as page:
            assert page.status == 200 and "Slots empty" in await page.text()
        async with session.post(pd.url("/sandbox/pagerduty/incidents"), json={}) as bad:
            assert bad.status == 400
    await pd.emulator.drain_webhooks()
    assert pd_receiver.types() == ["incident.triggered", "incident.acknowledged", "incident.resolved"]
    chloe = user_id(pd, "chloe.martin@example.com")
    assert [e["agent"]["id"] for e in pd_receiver.events()[1:]] == [chloe, chloe]


async def test_every_control_action(pd: PdSandbox, pd_receiver: PagerDutyReceiver) -> None:
    incident = await pd.emulator.trigger(title="Checkout errors", service_id="PCHECKO", urgency="low")
    base = f"/sandbox/pagerduty/incidents/{incident['id']}"
    steps: list[tuple[str, dict[str, Any]]] = [
        ("acknowledge", {"user": BEN}), ("unacknowledge", {}), ("escalate", {"user": BEN}),
        ("reassign", {"user": BEN, "to": [ERIN]}), ("priority", {"user": ERIN, "priority": "P2"}),
        ("note", {"user": ERIN, "content": "Looking"}), ("delegate", {"user": ERIN, "escalation_policy_id": "PIMGR01"}),
    ]
    async with aiohttp.ClientSession() as session:
        for action, body in steps:
            async with session.post(pd.url(f"{base}/{action}"), json=body) as response:
                assert response.status == 200, (action, await response.text())
    await pd.emulator.drain_webhooks()
    assert pd_receiver.types() == [
        "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.escalated",
        "incident.reassigned", "incident.priority_updated", "incident.annotated", "incident.delegated"]
    assert pd_receiver.events()[2]["agent"] is None  # an acknowledgement timeout is nobody's doing
    [row] = state(pd)["incidents"]
    assert (row["priority"], row["escalation_policy_id"], row["assignees"]) == ("P2", "PIMGR01",
                                                                                [user_id(pd, ERIN)])


async def test_incident_page_acts_through_its_form(pd: PdSandbox) -> None:
    incident = await pd.emulator.trigger(title="Basket <script>")
    page = pd.url(f"/sandbox/pagerduty/incidents/{incident['id']}")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{page}/acknowledge", data={"user": FATIMA}) as response:  # follows the 303
            text = await response.text()
            assert response.status == 200 and "acknowledged" in text and "Fatima Noor" in text
            assert "<script>" not in text  # escaped
        async with session.post(f"{page}/acknowledge", data={"user": ASHA}) as response:
            assert "Incident Already Acknowledged" in await response.text()
        async with session.get(pd.url("/sandbox/pagerduty/incidents/QNOPE")) as missing:
            assert missing.status == 404


async def test_snapshot(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    incident = await create_incident(client)
    await call(client.rpost, f"/incidents/{incident['id']}/notes", json={"note": {"content": "hi"}},
               headers={"From": ASHA})
    await call(client.rget, f"/incidents/{incident['id']}")
    await pd.emulator.drain_webhooks()
    snapshot = state(pd)
    assert json.loads(json.dumps(snapshot)) == snapshot  # served as JSON by GET /sandbox/state
    assert {"id": user_id(pd, ASHA), "name": "Asha Patel", "email": ASHA} in snapshot["users"]
    [row] = snapshot["incidents"]
    assert row | {"created_at": None} == {
        "id": incident["id"], "number": 1, "title": "Basket API 5xx", "status": "triggered", "urgency": "high",
        "priority": None, "assignees": [user_id(pd, ASHA), user_id(pd, FATIMA)], "service_id": "PBASKET",
        "escalation_policy_id": "PBASKEP", "incident_key": incident["incident_key"],
        "html_url": incident["html_url"], "acknowledged_by": None, "resolved_by": None, "created_at": None}
    [note] = snapshot["notes"]
    assert (note["incident_id"], note["content"], note["user_id"]) == (incident["id"], "hi", user_id(pd, ASHA))
    assert snapshot["calls"] == {"POST /incidents": 1, "POST /incidents/{id}/notes": 1, "GET /incidents/{id}": 1}
    assert [d["event_type"] for d in snapshot["webhook_deliveries"]] == [
        "incident.triggered", "incident.annotated"]


async def test_without_validator_the_emulator_still_requires_from(make_sandbox: MakePd) -> None:
    pd = await make_sandbox(validator=None)
    with rest_client(pd) as client:
        incident = await create_incident(client)
        with pytest.raises(pagerduty.HttpError) as raised:
            await call(client.rput, f"/incidents/{incident['id']}",
                       json={"incident": {"type": "incident", "status": "resolved"}})
    status, error = error_of(raised)
    assert (status, error["code"]) == (400, 2001) and "From" in error["errors"][0]
