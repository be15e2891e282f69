"""Helpers for end-to-end tests against the running sandbox: act in "PagerDuty" and as a Slack user, move the clock,
read the world's state and what the bot answered."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.catalogue import Catalogue
from sandbox.ui.blockkit import Names, mrkdwn
from sandbox.world import RunningSandbox
from tests.helpers import rows, sign, slack_signed


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


def channel_id(running: RunningSandbox, name: str) -> str:
    found: str = next(c["id"] for c in state(running)["slack"]["channels"] if c["name"] == name)
    return found


def slack_user(running: RunningSandbox, email: str) -> str:
    found: str = next(u["id"] for u in state(running)["slack"]["users"] if u["email"] == email)
    return found


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
    # The report is taken once the bot has made no call for 0.2 s: on a loaded machine (CI) an answer by the response
    # URL can come later than that. So the posts are read again, live, once the bot's commands have done their work
    # — unless a call of theirs is held by a fault (the test holds it on purpose), and for 10 s at most.
    for _ in range(500):
        if not running.bot.in_flight.under_way_now() or any(running.sandbox.faults.held.values()):
            break
        await asyncio.sleep(0.02)
    interaction = running.sandbox.slack.interaction(str(answer.get("response_url") or "").rsplit("/", 1)[-1])
    if interaction is not None:
        answer["response_url_posts"] = list(interaction.response_url_posts)
    return answer


def kept_to_responders(catalogue: Catalogue, *acts: str) -> Catalogue:
    """The catalogue with `permissions.<act>: responders` for each act: only the incident's responders and the
    incident managers may do it."""
    return catalogue.model_copy(update={"permissions": catalogue.permissions.model_copy(
        update=dict.fromkeys(acts, "responders"))})


async def command(running: RunningSandbox, text: str, channel: str, user: str = "asha.patel@example.com",
                  **extra: Any) -> dict[str, Any]:
    """`/incident <text>` typed by `user` (Asha unless told) in `channel` (an id or a name), then everything settled:
    `as_user`'s report."""
    answer = await as_user(running, "command", user=user, channel=channel, text=text, **extra)
    await settle(running)
    return answer


async def opened(running: RunningSandbox, service: str = "PBASKET") -> tuple[dict[str, Any], dict[str, Any]]:
    """The incident "Checkout returns 500s" triggered on `service`, and its channel once open."""
    incident = await trigger(running, "Checkout returns 500s", service)
    channel = next(c for c in incident_channels(running) if c["name"].startswith(f"inc-{incident['incident_number']}-"))
    return incident, channel


def replies(answer: dict[str, Any]) -> str:
    """Everything the bot told the person, from `as_user`'s report: the immediate answer and its response-URL posts."""
    body = answer.get("body")
    texts = [str(body.get("text") or "")] if isinstance(body, dict) else []
    return "\n".join(texts + [str(post.get("text") or "") for post in answer["response_url_posts"]])


def answers(running: RunningSandbox, answer: dict[str, Any]) -> str:
    """What the bot has answered so far through the interaction's response URL, read live (later than `as_user`'s
    report, which is taken once the interaction has gone quiet)."""
    interaction = running.sandbox.slack.interaction(str(answer["response_url"]).rsplit("/", 1)[-1])
    assert interaction is not None
    return "\n".join(str(post.get("text") or "") for post in interaction.response_url_posts)


def code_blocks_shown(text: str) -> list[str]:
    """The code blocks of a message's text as Slack shows them (the sandbox page's rendering of its mrkdwn): each
    block's text as the reader sees it, escapes undone, without the line breaks around it, and without zero-width
    spaces (unseen)."""
    shown = mrkdwn(text, Names(user=lambda _: None, channel=lambda _: None))
    return [html.unescape(block.replace("<br>", "\n")).replace("\u200b", "").strip("\n")
            for block in re.findall(r"<pre>(.*?)</pre>", shown, flags=re.S)]


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    """Wait for something the bot does after the sandbox's report has returned (no timing is asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "the expected change never happened"
        await asyncio.sleep(0.05)


async def move_clock(running: RunningSandbox, *, advance_seconds: float | None = None, to: str | None = None) -> None:
    """Move the sandbox's clock (the bot's too) forward by some seconds, or to an ISO time, through its control route.
    The route answers once the handovers then due are posted, or have been tried for 10 s; the bot is not waited for
    (it cannot settle while an outside system stays down)."""
    body: dict[str, float | str] = {"advance_seconds": advance_seconds} if advance_seconds is not None else {}
    if to is not None:
        body["set"] = to
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/clock",
                                                                json=body) as response:
        assert response.status == 200, await response.text()


async def send_mention(running: RunningSandbox, event_id: str, ts: str, *, events_url: str | None = None,
                       retry: str | None = None, text: str = "help") -> None:
    """Asha mentions the bot in #team-basket: the app_mention event as Slack sends it (optionally as its retry),
    signed, to the bot's events URL (or another replica's)."""
    emulator = running.sandbox.slack
    user = emulator.resolve_user("asha.patel@example.com")
    assert user is not None
    body = json.dumps({"token": "x", "team_id": emulator.team_id, "api_app_id": emulator.app_id,
                       "type": "event_callback", "event_id": event_id, "event_time": int(time.time()), "event": {
                           "type": "app_mention", "user": user.id, "text": f"<@{emulator.bot.id}> {text}", "ts": ts,
                           "channel": channel_id(running, "team-basket"), "event_ts": ts}})
    headers = {"Content-Type": "application/json"} | slack_signed(running.sandbox.keys.slack_signing_secret, body)
    if retry:
        headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
    async with aiohttp.ClientSession() as session, session.post(events_url or f"{running.url}/slack/events",
                                                                data=body, headers=headers) as response:
        assert response.status == 200


def thread(running: RunningSandbox, ts: str) -> list[dict[str, Any]]:
    """The bot's replies in #team-basket under the message `ts`."""
    team = channel_id(running, "team-basket")
    return [m for m in state(running)["slack"]["messages"] if m["channel"] == team and m["thread_ts"] == ts]


def alerts_pending(running: RunningSandbox) -> int:
    """The operators' alerts not yet posted, in their own queue or a group's (`slack:operators:<group>`)."""
    [pending] = rows(running.bot.settings.db_path, "SELECT count(*) AS n FROM outbox WHERE state='pending' AND "
                     "(queue='slack:operators' OR queue LIKE 'slack:operators:%')")
    return int(pending["n"])


def publishes(running: RunningSandbox) -> int:
    """How many Homes the bot has published so far (Slack's views.publish calls)."""
    return int(state(running)["slack"]["calls"].get("views.publish", 0))


async def open_home(running: RunningSandbox, user: str, tab: str = "home") -> dict[str, Any]:
    """Open the tab as `user`; for the Home tab, until the bot has published it (in the background, after the ack).
    Returns the sandbox's report of the delivery."""
    running.sandbox.slack.settle_seconds = 0.2  # as `as_user`: the report need not wait longer, the publish is awaited
    before = publishes(running)
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/home",
                                                                json={"user": user, "tab": tab}) as response:
        body = await response.text()
        assert response.status == 200, body
    await settle(running)
    if tab == "home":
        await eventually(lambda: publishes(running) > before)
    answer: dict[str, Any] = json.loads(body)
    return answer


def handovers_in(running: RunningSandbox, channel: str) -> list[str]:
    """The texts of the on-call handovers posted in `channel` (a name), oldest first, everyone's to see."""
    cid = channel_id(running, channel)
    return [m["text"] for m in state(running)["slack"]["messages"]
            if m["channel"] == cid and m["text"].startswith("*Handover") and not m["ephemeral_to"]]


async def note_unsettled(running: RunningSandbox, incident_id: str, content: str, *,
                         user: str = "ben.okafor@example.com") -> None:
    """A note in PagerDuty's web app, its webhook delivered, the bot not waited for (it cannot settle while one of
    its effects keeps failing)."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/pagerduty/incidents/{incident_id}/note",
            json={"user": user, "content": content}) as response:
        assert response.status == 200, await response.text()
    await running.sandbox.pagerduty.drain_webhooks()
