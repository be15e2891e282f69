"""Helpers for end-to-end tests against the running sandbox: act in "PagerDuty", read the world's state."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from sandbox.world import RunningSandbox
from tests.helpers import sign


async def trigger(running: RunningSandbox, title: str = "Checkout returns 500s", service_id: str = "PBASKET",
                  urgency: str = "high") -> dict[str, Any]:
    incident = await running.sandbox.pagerduty.trigger(title=title, service_id=service_id, urgency=urgency)
    await settle(running)
    return incident


async def act(running: RunningSandbox, incident_id: str, action: str, **fields: Any) -> dict[str, Any]:
    """Act on an incident in PagerDuty's own UI (the emulator's control route), then let everything settle."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/pagerduty/incidents/{incident_id}/{action}", json=fields) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
    await settle(running)
    return body


async def settle(running: RunningSandbox) -> None:
    await running.sandbox.pagerduty.drain_webhooks()
    await running.bot.settle(20)


async def deliver(running: RunningSandbox, event: dict[str, Any], delivery_id: str | None = None) -> int:
    """Send a webhook to the bot as PagerDuty would, signed with the subscription's secret."""
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json",
               "X-PagerDuty-Signature": sign(running.sandbox.keys.pagerduty_webhook_secrets[0], body)}
    if delivery_id:
        headers["X-Webhook-Id"] = delivery_id
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/pagerduty/webhook", data=body, headers=headers) as response:
        return response.status


def state(running: RunningSandbox) -> dict[str, Any]:
    return running.sandbox.state()


def incident_channels(running: RunningSandbox) -> list[dict[str, Any]]:
    return [c for c in state(running)["slack"]["channels"] if c["name"].startswith("inc-")]


def messages(running: RunningSandbox, channel_id: str) -> list[dict[str, Any]]:
    return [m for m in state(running)["slack"]["messages"] if m["channel"] == channel_id]


def slack_user(running: RunningSandbox, email: str) -> str:
    return next(u["id"] for u in state(running)["slack"]["users"] if u["email"] == email)


def card(running: RunningSandbox, channel: dict[str, Any]) -> dict[str, Any]:
    pinned = [m for m in messages(running, channel["id"]) if m["ts"] in channel["pins"]]
    assert len(pinned) == 1, pinned
    return pinned[0]


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def as_user(running: RunningSandbox, route: str, **body: Any) -> dict[str, Any]:
    """Act as a Slack user through the sandbox's control route (command, action, view_submission); returns the
    report of what the bot answered."""
    running.sandbox.slack.settle_seconds = 0.2
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/{route}",
                                                                json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        return answer
