"""The bot reads PagerDuty's lists to their end where what it looks for may be past the first page (25 by default):
`/incident page <policy>` finds the policy named exactly among dozens its name is part of, and who is on call for a
policy is every entry, not the first page's. Found in review of session 21: "I can't find" a policy that exists."""

from __future__ import annotations

from typing import Any

import pagerduty

from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.metrics import Metrics
from tests.sandbox.pagerduty_env import ERIN, TOKEN, PdSandbox, call, user_id


async def made_policy(client: pagerduty.RestApiV2Client, name: str, target: str) -> str:
    response = await call(client.request, "POST", "/escalation_policies", json={"escalation_policy": {
        "type": "escalation_policy", "name": name, "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": target, "type": "user_reference"}]}]}})
    body: dict[str, Any] = response.json()
    assert response.status_code == 201, body
    return str(body["escalation_policy"]["id"])


async def test_the_policy_named_exactly_is_found_past_the_first_page(pd: PdSandbox,
                                                                    client: pagerduty.RestApiV2Client) -> None:
    erin = user_id(pd, ERIN)
    for n in range(105):  # past the client's first page of 100
        await made_policy(client, f"Payments {n:03} (Medium)", erin)
    wanted = await made_policy(client, "Payments", erin)
    paging = PagerDutyPaging(TOKEN, str(pd.server.make_url("/sandbox/pagerduty/api")), Metrics(), timeout=5)
    try:
        assert await paging.escalation_policy_named("payments") == (wanted, "Payments")
        assert await paging.escalation_policy_named("Payments 104 (medium)") is not None
        assert await paging.escalation_policy_named("Payments 99") is None
    finally:
        await paging.close()
