"""The PagerDuty emulator's priorities and incident status updates, driven by the real `pagerduty.RestApiV2Client`
and held to the OpenAPI description: a request the real PagerDuty refuses is refused here."""

from __future__ import annotations

from typing import Any, cast

import pagerduty
import pytest

from tests.sandbox.pagerduty_env import ASHA, ERIN, PagerDutyReceiver, PdSandbox, call, error_of, user_id


async def open_incident(client: pagerduty.RestApiV2Client) -> dict[str, Any]:
    body = {"type": "incident", "title": "Basket API 5xx", "service": {"id": "PBASKET", "type": "service_reference"}}
    created: dict[str, Any] = await call(client.rpost, "/incidents", json={"incident": body}, headers={"From": ASHA})
    return created


async def test_priorities_are_listed_most_severe_first(client: pagerduty.RestApiV2Client) -> None:
    priorities = await call(client.rget, "/priorities")
    assert [p["name"] for p in priorities] == ["P1", "P2", "P3", "P4", "P5"]
    assert all(p["type"] == "priority_reference" and p["id"] for p in priorities)


async def test_a_status_update_is_published_as_the_sender_and_followed_by_its_webhook(
        pd: PdSandbox, client: pagerduty.RestApiV2Client, pd_receiver: PagerDutyReceiver) -> None:
    incident = await open_incident(client)
    published = await call(client.rpost, f"/incidents/{incident['id']}/status_updates",
                           json={"message": "Rolling back"}, headers={"From": ERIN})
    assert published["message"] == "Rolling back" and published["sender"]["id"] == user_id(pd, ERIN)
    shown = cast(dict[str, Any], pd.emulator.snapshot())["status_updates"]
    assert [(u["incident_id"], u["message"]) for u in shown] == [(incident["id"], "Rolling back")]
    await pd.emulator.drain_webhooks()
    event = pd_receiver.events()[-1]
    assert pd_receiver.types()[-1] == "incident.status_update_published"
    assert event["data"] | {"incident": None} == {"incident": None, "id": published["id"], "message": "Rolling back",
                                                   "trimmed": False, "type": "incident_status_update"}
    assert event["agent"]["id"] == user_id(pd, ERIN)


@pytest.mark.parametrize(("body", "headers"), [
    ({"message": "Rolling back"}, {}),                                            # no From
    ({"message": "Rolling back"}, {"From": "nobody@example.com"}),                # From no user has
    ({}, {"From": ERIN}),                                                         # no message
    ({"message": 42}, {"From": ERIN}),                                            # not a string
    ({"message": "   "}, {"From": ERIN}),                                         # nothing said
    ({"message": "Rolling back", "subject": "Checkout"}, {"From": ERIN}),         # subject without its html
])
async def test_a_status_update_pagerduty_would_refuse_is_refused(
        pd: PdSandbox, client: pagerduty.RestApiV2Client, body: dict[str, Any], headers: dict[str, str]) -> None:
    incident = await open_incident(client)
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, f"/incidents/{incident['id']}/status_updates", json=body, headers=headers)
    assert error_of(raised)[0] == 400
    assert cast(dict[str, Any], pd.emulator.snapshot())["status_updates"] == []


async def test_a_status_update_on_an_unknown_incident_is_404(client: pagerduty.RestApiV2Client) -> None:
    with pytest.raises(pagerduty.HttpError) as raised:
        await call(client.rpost, "/incidents/QNOSUCH/status_updates", json={"message": "x"}, headers={"From": ERIN})
    assert error_of(raised)[0] == 404
