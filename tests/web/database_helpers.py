"""Helpers for the tests of the bot with its database failing under it (tests/web/test_database_faults.py,
tests/web/test_database_failover.py): deliveries signed as PagerDuty signs them, sent again after every 5xx as
PagerDuty does, and /readyz read and waited for."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.helpers import WEBHOOK_SECRET, BotClient, sign


async def post(client: BotClient, event: dict[str, Any]) -> tuple[int, Any]:
    body = json.dumps(event).encode()
    response = await client.post("/pagerduty/webhook", data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sign(WEBHOOK_SECRET, body)})
    return response.status, await response.json()


async def ready(client: BotClient) -> tuple[int, Any]:
    """/readyz's status and body, but for whether Slack and PagerDuty accept the bot's token and key (`slack`,
    `pagerduty`: both are unreachable here)."""
    response = await client.get("/readyz")
    return response.status, {k: v for k, v in (await response.json()).items() if k not in ("slack", "pagerduty")}


async def until_ready(client: BotClient) -> None:
    """Wait (a minute at most) until /readyz answers 200: the loops have gone round on a store that answers."""
    deadline = time.monotonic() + 60
    while (await ready(client))[0] != 200:
        assert time.monotonic() < deadline, await ready(client)
        await asyncio.sleep(0.2)


async def sent_until_taken(client: BotClient, event: dict[str, Any],
                           refused: asyncio.Event | None = None) -> list[int]:
    """Send a delivery as PagerDuty does, again after every 5xx, until it is taken (2xx); every status answered.
    `refused`, if given, is set at each 5xx."""
    answered: list[int] = []
    while not answered or answered[-1] >= 500:
        if answered:
            if refused is not None:
                refused.set()
            await asyncio.sleep(0.1)
        answered.append((await post(client, event))[0])
    assert answered[-1] in (200, 202), answered
    return answered
