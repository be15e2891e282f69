"""ServiceNow in the sandbox, for the end-to-end and property tests: letting both systems' webhooks and the bot settle,
and reading the tickets and the bot's work notes as the emulator holds them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.e2e.sandbox_helpers import act, messages, move_clock, state


async def settle_all(running: RunningSandbox, rounds: int = 4) -> None:
    """Let PagerDuty's and ServiceNow's webhooks reach the bot and the bot finish, a few times over: one system's
    answer (a ticket's business rule, a page's PagerDuty incident) sets off the other."""
    for _ in range(rounds):
        await running.sandbox.pagerduty.drain_webhooks()
        await running.sandbox.servicenow.drain_webhooks()
        await running.bot.settle(20)


def tickets(running: RunningSandbox) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state(running)["servicenow"]["incidents"]
    return found


async def send_rule_delivery(running: RunningSandbox, ticket: dict[str, Any], **fields: str) -> int:
    """POST /servicenow/webhook, signed, as a copy of the business rule would send an update of `ticket` (from the
    emulator's snapshot) by the desk's jane.agent, with `fields` over it: the bot's answer's status."""
    body = json.dumps({
        "table": "incident", "operation": "update", "sys_id": ticket["sys_id"], "number": ticket["number"],
        "short_description": ticket["short_description"], "state": ticket["state"],
        "assignment_group": ticket["assignment_group"], "correlation_id": ticket["correlation_id"],
        "updated_by": "jane.agent", "updated_on": ticket["sys_updated_on"], "work_notes": "", "comments": "",
        "previous_state": ticket["state"], "previous_group": ticket["assignment_group"]} | fields).encode()
    signature = hmac.new(running.sandbox.keys.servicenow_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/servicenow/webhook", data=body,
            headers={"Content-Type": "application/json", "X-ServiceNow-Signature": signature}) as response:
        return response.status


def incident_data(running: RunningSandbox, incident_id: str, **changes: Any) -> dict[str, Any]:
    """The incident as PagerDuty's webhooks describe it now, with `changes`."""
    pd = running.sandbox.pagerduty
    return dict(pd.shapes.webhook_incident(pd.account.incident(incident_id)), **changes)


def merge_reason(running: RunningSandbox, kept: dict[str, Any]) -> dict[str, Any]:
    """PagerDuty's `resolve_reason` of an incident merged into `kept`."""
    pd = running.sandbox.pagerduty
    return {"type": "merge_resolve_reason", "incident": pd.shapes.ref("incident", kept["id"], kept["title"])
            | {"html_url": kept["html_url"]}}


async def triggered(running: RunningSandbox, title: str, service_id: str = "PBASKET") -> dict[str, Any]:
    """An incident triggered at high urgency in PagerDuty, its ticket made."""
    incident = await running.sandbox.pagerduty.trigger(title=title, service_id=service_id, urgency="high")
    await settle_all(running)
    return incident


def ticket_for(running: RunningSandbox, incident_id: str) -> dict[str, Any]:
    [ticket] = [t for t in tickets(running) if t["correlation_id"] == incident_id]
    return ticket


def bot_notes(ticket: dict[str, Any]) -> list[str]:
    """The work notes the bot wrote on a ticket, in journal order."""
    return [n["value"] for n in ticket["work_notes"] if n["created_by"] == SERVICENOW_USER]


def note_lines(notes: list[str]) -> list[str]:
    """The timeline lines of the bot's batched work notes: "HH:MM:SSZ text" lines, without the batch marker."""
    lines = []
    for note in notes:
        for line in note.splitlines():
            if line.startswith(("[paved-road ", "Slack channel for this incident: ")):
                continue
            stamp, _, text = line.partition(" ")
            assert stamp.endswith("Z") and len(stamp) == 9, line
            lines.append(text)
    return lines


async def resolved_and_archived(running: RunningSandbox, acted_by: str) -> tuple[str, str]:
    """An incident of its own acknowledged and resolved in PagerDuty (its lines flushed to its ticket), then its
    channel archived by the bot days later: (incident id, the archived channel's id)."""
    incident = await running.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET",
                                                       urgency="high")
    iid = str(incident["id"])
    await settle_all(running)
    for action in ("acknowledge", "resolve"):
        await act(running, iid, action, user=acted_by)
        await running.bot.flush_work_notes()
        await settle_all(running)
    old = (await running.bot.store.footprint(iid)).channel_id
    await move_clock(running, advance_seconds=8 * 86400)  # the bot archives the channel
    await settle_all(running)
    archived = running.sandbox.slack.find_channel(str(old))
    assert archived is not None and archived.is_archived
    return iid, str(old)


async def renamed_in_slack(running: RunningSandbox, channel_id: str, name: str,
                           by: str = "asha.patel@example.com") -> None:
    """A person in the channel renames it in the sandbox Slack (its `channel_rename` event reaches the bot)."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/slack/rename", json={"user": by, "channel": channel_id, "name": name}) as answer:
        said = await answer.text()
    if answer.status != 200:  # who is in the channel, and whom the incident names
        slack, footprint = running.sandbox.slack, await running.bot.store.footprint_by_channel(channel_id)
        channel = slack.find_channel(channel_id)
        members = [getattr(slack.resolve_user(m), "email", m) for m in (channel.members if channel else [])]
        incident = await running.bot.store.incident(footprint.incident_id) if footprint else None
        raise AssertionError(f"{answer.status} {said}: members {members}; {incident}")
    await settle_all(running)


def close_code_alerts(running: RunningSandbox) -> list[str]:
    """The operators' alerts about the instance's incident close codes (refused, hidden, or not offered)."""
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"]) if "ServiceNow close codes" in m["text"]]
