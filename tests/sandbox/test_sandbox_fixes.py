"""What a new user met in the sandbox, each fixed with its test: faults checked and spent ones dropped, ServiceNow on
the sandbox's clock, the trigger route answering once the incident is in Slack, a typed @name escaped for a command
registered with should_escape, PagerDuty's page offering only what an incident's state allows, an uploaded file's
bytes served back."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.pagerduty.control import ACTIONS, valid_actions
from sandbox.slack.workspace import SlackWorkspace
from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.e2e.sandbox_helpers import as_user, channel_id, replies, settle, state, trigger
from tests.helpers import QUIET_TIME


async def post(running: RunningSandbox, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(running.url + path, json=body) as response:
        return response.status, await response.json()


async def test_a_fault_for_a_service_the_sandbox_does_not_have_is_refused(sandbox: RunningSandbox) -> None:
    status, body = await post(sandbox, "/sandbox/faults", {"service": "slak", "method": "chat.postMessage"})
    assert status == 400 and "service must be one of slack, pagerduty, servicenow, not 'slak'" in body["error"]
    status, body = await post(sandbox, "/sandbox/faults", ["slack"])
    assert status == 400
    assert sandbox.sandbox.faults.snapshot() == []


async def test_spent_faults_are_no_longer_listed(sandbox: RunningSandbox) -> None:
    # A method the idle bot never calls (not auth.test, which it asks in the background when it starts, and again
    # after a failure: it could take the one failure before the test does).
    status, body = await post(sandbox, "/sandbox/faults", {"service": "slack", "method": "conversations.archive",
                                                           "times": 1})
    assert status == 201 and [f["method"] for f in body["faults"]] == ["conversations.archive"]
    await post(sandbox, "/sandbox/faults", {"service": "pagerduty", "method": "/incidents", "for_seconds": 60})
    assert sandbox.sandbox.faults.take("slack", "conversations.archive") is not None  # its one failure used
    assert [f["service"] for f in state(sandbox)["faults"]] == ["pagerduty"]
    sandbox.sandbox.advance(61)  # the outage is over
    assert state(sandbox)["faults"] == []


async def test_a_fault_with_field_fails_only_requests_that_set_it(sandbox: RunningSandbox) -> None:
    status, _ = await post(sandbox, "/sandbox/faults", {"service": "servicenow", "method": "PATCH /api/now/table/",
                                                        "status": 403, "times": 1, "with_field": "state"})
    assert status == 201
    faults = sandbox.sandbox.faults
    assert faults.take("servicenow", "/api/now/table/incident/x", "PATCH", {"work_notes": "x"}) is None
    assert faults.take("servicenow", "/api/now/table/incident/x", "PATCH",
                       {"work_notes": "x", "state": "6"}) is not None
    assert faults.snapshot() == []  # spent


async def test_a_fault_with_words_answers_in_the_services_own_error_shape(sandbox: RunningSandbox) -> None:
    # Slack's JSON refusal comes at 200; PagerDuty's and ServiceNow's error bodies at a 500 unless told otherwise.
    for service, method in (("slack", "conversations.archive"), ("pagerduty", "GET /nothing"),
                            ("servicenow", "GET /api/now/table/nothing")):
        status, _ = await post(sandbox, "/sandbox/faults", {"service": service, "method": method,
                                                            "error": f"{service}'s words"})
        assert status == 201
    assert [(f["service"], f["status"]) for f in sandbox.sandbox.faults.snapshot()] == [
        ("slack", 200), ("pagerduty", 500), ("servicenow", 500)]
    keys = sandbox.sandbox.keys
    servicenow = base64.b64encode(f"{SERVICENOW_USER}:{keys.servicenow_password}".encode()).decode()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sandbox.url}/sandbox/pagerduty/api/nothing",
                               headers={"Authorization": f"Token token={keys.pagerduty_api_token}"}) as response:
            assert response.status == 500
            assert (await response.json())["error"]["message"] == "pagerduty's words"
        async with session.get(f"{sandbox.url}/sandbox/servicenow/api/now/table/nothing",
                               headers={"Authorization": f"Basic {servicenow}"}) as response:
            assert response.status == 500
            assert (await response.json())["error"]["detail"] == "servicenow's words"


async def test_servicenow_work_notes_are_stamped_with_the_sandbox_clock(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")
    [ticket] = state(sandbox)["servicenow"]["incidents"]
    stamps = [n["created_on"] for n in ticket["work_notes"]] + [ticket["sys_updated_on"]]
    assert stamps and all(s.startswith(QUIET_TIME.strftime("%Y-%m-%d")) for s in stamps), stamps


async def test_the_trigger_route_answers_once_the_incident_channel_is_ready(sandbox: RunningSandbox) -> None:
    status, body = await post(sandbox, "/sandbox/pagerduty/incidents",
                              {"title": "Checkout returns 500s", "service_id": "PCHECKO"})
    assert status == 201 and body["slack_channel"] == "inc-1-checkout-returns-500s"
    # A command sent straight after the trigger finds the channel and its incident.
    answer = await as_user(sandbox, "command", user="ben.okafor@example.com", channel=body["slack_channel"],
                           text="ack")
    assert "Acknowledged #1" in replies(answer), replies(answer)


async def test_a_typed_mention_reaches_the_bot_escaped_as_the_slack_client_sends_it(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")
    answer = await as_user(sandbox, "command", user="ben.okafor@example.com", channel="inc-1-checkout-returns-500s",
                           text="page @chloe.martin Need eyes on the refund job")
    assert "Chloe Martin" in replies(answer), replies(answer)
    requests = state(sandbox)["pagerduty"]["responder_requests"]
    chloe = next(u["id"] for u in state(sandbox)["pagerduty"]["users"] if u["email"] == "chloe.martin@example.com")
    assert [r["targets"] for r in requests] == [[{"type": "user_reference", "id": chloe}]]


def test_the_emulated_app_configuration_is_the_manifests() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "app_manifest.yml").read_text())
    workspace = SlackWorkspace(people=[], channels=[], signing_secret="s")
    assert workspace.bot_events == set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert workspace.escaped_commands == {c["command"] for c in manifest["features"]["slash_commands"]
                                          if c.get("should_escape")}


def test_pagerduty_offers_only_the_actions_an_incident_state_allows() -> None:
    assert valid_actions("triggered") == tuple(a for a in ACTIONS if a != "unacknowledge")
    assert valid_actions("acknowledged") == tuple(a for a in ACTIONS if a != "acknowledge")
    assert valid_actions("resolved") == ("note",)


async def test_the_incident_page_of_a_resolved_incident_offers_no_acknowledge_or_resolve(
        sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")
    page = f"{sandbox.url}/sandbox/pagerduty/incidents/{incident['id']}"
    async with aiohttp.ClientSession() as session:
        async with session.get(page) as open_page:
            assert "<button>acknowledge</button>" in await open_page.text()
        await post(sandbox, f"/sandbox/pagerduty/incidents/{incident['id']}/resolve",
                   {"user": "ben.okafor@example.com"})
        async with session.get(page) as resolved_page:
            text = await resolved_page.text()
    assert "<button>acknowledge</button>" not in text and "<button>resolve</button>" not in text
    assert "<button>note</button>" in text


async def test_an_uploaded_file_can_be_downloaded(sandbox: RunningSandbox) -> None:
    slack = AsyncWebClient(token=sandbox.sandbox.keys.slack_bot_token, base_url=f"{sandbox.url}/sandbox/slack/api/")
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    answer = await slack.files_upload_v2(channel=channel_id(sandbox, "team-basket"), content=data,
                                         filename='chart "1".png', title="Chart")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sandbox.url}/sandbox/slack/files/{answer['file']['id']}") as response:
            assert response.status == 200 and await response.read() == data
            assert response.content_type == "image/png"
            assert response.headers["Content-Disposition"] == 'inline; filename="chart__1_.png"'
        async with session.get(f"{sandbox.url}/sandbox/slack/files/FNOSUCH") as missing:
            assert missing.status == 404
        pending = await slack.files_getUploadURLExternal(filename="later.csv", length=10)
        async with session.get(f"{sandbox.url}/sandbox/slack/files/{pending['file_id']}") as not_uploaded:
            assert not_uploaded.status == 404
    await settle(sandbox)
