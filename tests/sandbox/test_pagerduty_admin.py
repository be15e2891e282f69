"""The PagerDuty emulator's configuration API (teams, escalation policies, services, schedules, webhook
subscriptions), through the real client; requests and successful answers are checked against the OpenAPI document
(the `pd` fixture fails the test on an answer that departs from the documented response)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pagerduty

from tests.sandbox.pagerduty_env import ASHA, ERIN, PdSandbox, call, user_id

WEEKDAYS = [{"type": "weekly_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 30600,
             "start_day_of_week": day} for day in range(1, 6)]


async def send(client: pagerduty.RestApiV2Client, method: str, path: str, body: Any = None,
               **params: Any) -> tuple[int, Any]:
    response = await call(client.request, method, path, json=body, params=params or None)
    return response.status_code, response.json() if response.content else None


async def team(client: pagerduty.RestApiV2Client, name: str = "Basket") -> str:
    status, body = await send(client, "POST", "/teams", {"team": {"type": "team", "name": name,
                                                                  "description": "made in a test"}})
    assert status == 201, body
    return str(body["team"]["id"])


async def schedule(client: pagerduty.RestApiV2Client, pd: PdSandbox, users: tuple[str, ...] = (ASHA,)) -> str:
    layer = {"name": "Working hours", "start": "2026-01-05T09:00:00+00:00",
             "rotation_virtual_start": "2026-01-05T09:00:00+00:00", "rotation_turn_length_seconds": 604800,
             "users": [{"user": {"id": user_id(pd, u), "type": "user_reference"}} for u in users],
             "restrictions": WEEKDAYS}
    status, body = await send(client, "POST", "/schedules", {"schedule": {
        "type": "schedule", "name": "Basket working hours", "time_zone": "Europe/London", "description": "d",
        "schedule_layers": [layer]}})
    assert status == 201, body
    return str(body["schedule"]["id"])


async def policy(client: pagerduty.RestApiV2Client, schedule_id: str, erin: str, team_id: str | None = None,
                 name: str = "Basket (Medium)") -> str:
    status, body = await send(client, "POST", "/escalation_policies", {"escalation_policy": {
        "type": "escalation_policy", "name": name, "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": schedule_id, "type": "schedule_reference"}]},
            {"escalation_delay_in_minutes": 30, "targets": [{"id": erin, "type": "user_reference"}]}],
        "teams": [{"id": team_id, "type": "team_reference"}] if team_id else []}})
    assert status == 201, body
    return str(body["escalation_policy"]["id"])


async def test_teams_are_created_listed_renamed_and_deleted(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    basket = await team(client)
    await team(client, "Payments")
    status, found = await send(client, "GET", "/teams", query="bask")
    assert status == 200 and [t["name"] for t in found["teams"]] == ["Basket"]
    status, body = await send(client, "POST", "/teams", {"team": {"type": "team", "name": "basket"}})
    assert status == 400 and body["error"]["errors"] == ["Name has already been taken"]
    status, body = await send(client, "PUT", f"/teams/{basket}", {"team": {"type": "team", "name": "Basket & Co"}})
    assert status == 200 and body["team"]["name"] == "Basket & Co"
    # A new case of its own name is no clash with itself (found in review, session 25: the sandbox refused it).
    status, body = await send(client, "PUT", f"/teams/{basket}", {"team": {"type": "team", "name": "BASKET & CO"}})
    assert status == 200 and body["team"]["name"] == "BASKET & CO"
    status, body = await send(client, "PUT", f"/teams/{basket}", {"team": {"type": "team", "name": "payments"}})
    assert status == 400 and body["error"]["errors"] == ["Name has already been taken"]
    assert (await send(client, "DELETE", f"/teams/{basket}"))[0] == 204
    assert (await send(client, "GET", f"/teams/{basket}"))[0] == 404


async def test_a_request_the_openapi_document_refuses_is_refused(pd: PdSandbox,
                                                                 client: pagerduty.RestApiV2Client) -> None:
    status, body = await send(client, "POST", "/teams", {"team": {"type": "team"}})  # no name
    assert status == 400 and "'name' is a required property" in body["error"]["errors"][0]
    status, body = await send(client, "POST", "/escalation_policies", {"escalation_policy": {
        "type": "escalation_policy", "name": "x", "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": []}]}})  # a rule needs a target
    assert status == 400, body
    assert body["error"]["errors"] == ["escalation_policy.escalation_rules.0.targets: [] should be non-empty"]


async def test_a_policy_pages_whoever_its_schedule_has_on_call(pd: PdSandbox,
                                                               client: pagerduty.RestApiV2Client) -> None:
    erin = user_id(pd, ERIN)
    team_id = await team(client)
    schedule_id = await schedule(client, pd, (ASHA,))
    policy_id = await policy(client, schedule_id, erin, team_id)
    status, body = await send(client, "POST", "/services", {"service": {
        "type": "service", "name": "Basket Promotions", "description": "new",
        "escalation_policy": {"id": policy_id, "type": "escalation_policy_reference"}}})
    assert status == 201, body
    service = body["service"]
    assert service["teams"][0]["id"] == team_id and service["escalation_policy"]["id"] == policy_id
    # The test clock is a Monday 09:30 in London: Asha's working-hours layer is on.
    incident = await pd.emulator.trigger(title="Promotions down", service_id=service["id"])
    assert [a["assignee"]["id"] for a in incident["assignments"]] == [user_id(pd, ASHA)]
    pd.clock.advance(timedelta(hours=10))  # 19:30: the schedule has nobody, so PagerDuty goes straight to the next rule
    later = await pd.emulator.trigger(title="Promotions down again", service_id=service["id"])
    assert [a["assignee"]["id"] for a in later["assignments"]] == [erin]
    status, got = await send(client, "GET", f"/escalation_policies/{policy_id}")
    assert [[t["type"] for t in r["targets"]] for r in got["escalation_policy"]["escalation_rules"]] == [
        ["schedule_reference"], ["user_reference"]]


async def test_what_is_in_use_cannot_be_deleted(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    schedule_id = await schedule(client, pd)
    policy_id = await policy(client, schedule_id, user_id(pd, ERIN))
    status, body = await send(client, "POST", "/services", {"service": {
        "type": "service", "name": "Refunds", "escalation_policy": {"id": policy_id,
                                                                    "type": "escalation_policy_reference"}}})
    service_id = body["service"]["id"]
    status, body = await send(client, "DELETE", f"/escalation_policies/{policy_id}")
    assert status == 400 and "in use by services: Refunds" in body["error"]["errors"][0]
    status, body = await send(client, "DELETE", f"/schedules/{schedule_id}")
    assert status == 400 and "in use by escalation policies: Basket (Medium)" in body["error"]["errors"][0]
    for path in (f"/services/{service_id}", f"/escalation_policies/{policy_id}", f"/schedules/{schedule_id}"):
        assert (await send(client, "DELETE", path))[0] == 204, path


async def test_references_must_exist(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    status, body = await send(client, "POST", "/escalation_policies", {"escalation_policy": {
        "type": "escalation_policy", "name": "x", "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": "PNOPE", "type": "schedule_reference"}]}]}})
    assert status == 400 and body["error"]["errors"] == ["escalation_rules[0]: schedule PNOPE not found"]
    status, body = await send(client, "POST", "/services", {"service": {
        "type": "service", "name": "x", "escalation_policy": {"id": "PNOPE", "type": "escalation_policy_reference"}}})
    assert status == 400 and body["error"]["errors"] == ["Escalation policy PNOPE not found"]
    status, body = await send(client, "POST", "/webhook_subscriptions", {"webhook_subscription": {
        "type": "webhook_subscription", "events": ["incident.triggered"],
        "delivery_method": {"type": "http_delivery_method", "url": "https://bot.example.com/pagerduty/webhook"},
        "filter": {"id": "PNOPE", "type": "service_reference"}}})
    assert status == 400 and body["error"]["errors"] == ["filter: service PNOPE not found"]


async def test_schedules_written_through_the_api_are_rendered_by_the_schedule_model(
        pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    schedule_id = await schedule(client, pd, (ASHA, ERIN))
    since = pd.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    status, body = await send(client, "GET", f"/schedules/{schedule_id}", since=since.isoformat(),
                              until=(since + timedelta(days=1)).isoformat())
    entries = body["schedule"]["final_schedule"]["rendered_schedule_entries"]
    assert status == 200 and [(e["start"], e["end"], e["user"]["id"]) for e in entries] == [
        ("2026-03-02T09:00:00Z", "2026-03-02T17:30:00Z", user_id(pd, ASHA))]
    status, body = await send(client, "PUT", f"/schedules/{schedule_id}", {"schedule": {
        "type": "schedule", "name": "Basket working hours", "time_zone": "Mars/Olympus", "schedule_layers": []}})
    assert status == 400


async def test_a_webhook_subscription_secret_is_shown_once(pd: PdSandbox, client: pagerduty.RestApiV2Client) -> None:
    status, body = await send(client, "POST", "/webhook_subscriptions", {"webhook_subscription": {
        "type": "webhook_subscription", "description": "Basket API", "events": ["incident.triggered"],
        "delivery_method": {"type": "http_delivery_method", "url": "https://bot.example.com/pagerduty/webhook"},
        "filter": {"id": "PBASKET", "type": "service_reference"}}})
    assert status == 200 and body["webhook_subscription"]["delivery_method"]["secret"]
    subscription_id = body["webhook_subscription"]["id"]
    status, listed = await send(client, "GET", "/webhook_subscriptions", filter_type="service", filter_id="PBASKET")
    assert [s["delivery_method"]["secret"] for s in listed["webhook_subscriptions"]] == [None]
    status, body = await send(client, "PUT", f"/webhook_subscriptions/{subscription_id}", {"webhook_subscription": {
        "events": ["incident.triggered", "incident.resolved"], "active": False}})
    assert status == 200 and body["webhook_subscription"]["active"] is False
    assert (await send(client, "DELETE", f"/webhook_subscriptions/{subscription_id}"))[0] == 204
    assert (await send(client, "GET", "/webhook_subscriptions"))[1]["webhook_subscriptions"] == []
