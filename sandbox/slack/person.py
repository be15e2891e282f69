"""A person posting and reacting in the sandbox Slack, and the Events API deliveries Slack sends the app for them.

Control routes (sandbox only; JSON in, JSON out; `user` an id, name or email, `channel` an id or name):
  POST /sandbox/slack/message   {"user", "channel", "text", "thread_ts"?}   → {"channel", "ts", "events"}
  POST /sandbox/slack/reaction  {"user", "channel", "ts", "name"}           → {"channel", "ts", "events"}
`events` lists what was delivered to the bot (`type`, `event_id`, the bot's HTTP `status` or an `error`).

What Slack does, kept here: a person can post only where they are a member of the channel (or it is public and
they join by posting) and never in an archived channel; `text` is stored as Slack stores what people type (&, <, >
escaped; "@name" of a workspace member becomes the mention `<@U…>`); a reaction needs a message that is there, a
reaction name (lowercase letters, digits, `_`, `+`, `-`, `'`), and is refused as `already_reacted` when that person
already added it. Events go only to an app subscribed to them (`SUBSCRIBED_EVENTS`, which app_manifest.yml's
`bot_events` must equal — tests/test_manifest.py checks) and, for messages and reactions in channels, only when
the app's bot user is a member of the channel. They are JSON `event_callback` envelopes signed like every Slack
request (or Events API envelopes over Socket Mode when the bot holds a connection), each with its own `event_id`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.slack.model import JSON, Channel, Message, SlackUser
from sandbox.slack.user import escape_typed, slack_signature
from sandbox.slack.workspace import SlackWorkspace

# The bot events the sandbox app is subscribed to: app_manifest.yml's settings.event_subscriptions.bot_events.
SUBSCRIBED_EVENTS = frozenset({"app_mention", "reaction_added"})
_REACTION_NAME = re.compile(r"^[a-z0-9_+'-]{1,100}$")
_TYPED_MENTION = re.compile(r"(?<![<\w])@([a-z0-9._-]+)")
_SETTLE_CAP = 5.0


class PersonError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def post_as_person(slack: SlackWorkspace, user: SlackUser, channel: Channel, text: str,
                   thread_ts: str | None = None) -> Message:
    """Post `text` as a person typed it; the message as Slack stores it. Raises PersonError for what Slack refuses."""
    if channel.is_archived:
        raise PersonError(409, f"#{channel.name} is archived: nobody can post there")
    if user.id not in channel.members:
        if channel.is_private or channel.is_im:
            raise PersonError(403, f"{user.name} is not a member of #{channel.name}")
        channel.members.append(user.id)  # posting in a public channel joins it
    if not text.strip():
        raise PersonError(400, "text is empty: Slack does not post an empty message")
    if thread_ts and thread_ts not in channel.messages:
        raise PersonError(404, f"no message {thread_ts!r} to reply to in #{channel.name}")

    def mention(match: re.Match[str]) -> str:
        named = slack.resolve_user(match[1])
        return f"<@{named.id}>" if named is not None else match[0]
    return slack.post(channel, _TYPED_MENTION.sub(mention, escape_typed(text)), [], user=user.id,
                      thread_ts=thread_ts)


def react_as_person(slack: SlackWorkspace, user: SlackUser, channel: Channel, ts: str, name: str) -> Message:
    """Add reaction `name` to message `ts` as `user`; the message. Raises PersonError for what Slack refuses."""
    name = name.strip().strip(":")
    if not _REACTION_NAME.match(name):
        raise PersonError(400, f"invalid_name: {name!r} is not a reaction name")
    if channel.is_archived:
        raise PersonError(409, f"is_archived: #{channel.name} is archived")
    message = channel.messages.get(ts)
    if message is None or message.ephemeral_to:
        raise PersonError(404, f"message_not_found: no message {ts!r} in #{channel.name}")
    users = message.reactions.setdefault(name, [])
    if user.id in users:
        raise PersonError(409, f"already_reacted: {user.name} already reacted with :{name}:")
    users.append(user.id)
    return message


def message_events(slack: SlackWorkspace, message: Message) -> list[JSON]:
    """The events Slack sends the app for a new message: app_mention when it mentions the bot."""
    events: list[JSON] = []
    if f"<@{slack.bot.id}>" in message.text:
        event: JSON = {"type": "app_mention", "user": message.user, "text": message.text, "ts": message.ts,
                       "channel": message.channel, "event_ts": message.ts, "team": slack.team_id}
        if message.thread_ts:
            event["thread_ts"] = message.thread_ts
        events.append(event)
    return events


def reaction_event(slack: SlackWorkspace, user: SlackUser, message: Message, name: str) -> JSON:
    return {"type": "reaction_added", "user": user.id, "reaction": name, "item_user": message.user,
            "item": {"type": "message", "channel": message.channel, "ts": message.ts},
            "event_ts": slack.next_ts()}


class PersonActions:
    """The control routes; one per emulator."""

    def __init__(self, workspace: SlackWorkspace) -> None:
        self._slack = workspace

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sandbox/slack/message", self._message)
        app.router.add_post("/sandbox/slack/reaction", self._reaction)

    async def _message(self, request: web.Request) -> web.Response:
        try:
            data = await _body(request)
            user, channel = self._user(data), self._channel(data)
            thread_ts = str(data["thread_ts"]) if data.get("thread_ts") else None
            message = post_as_person(self._slack, user, channel, str(data.get("text") or ""), thread_ts)
            delivered = [await self.deliver(event, channel) for event in message_events(self._slack, message)]
        except PersonError as error:
            return web.json_response({"error": error.message}, status=error.status)
        await self._settle()
        return web.json_response({"channel": channel.id, "ts": message.ts, "events": delivered})

    async def _reaction(self, request: web.Request) -> web.Response:
        try:
            data = await _body(request)
            user, channel = self._user(data), self._channel(data)
            name = str(data.get("name") or "").strip().strip(":")
            message = react_as_person(self._slack, user, channel, str(data.get("ts") or ""), name)
            delivered = [await self.deliver(reaction_event(self._slack, user, message, name), channel)]
        except PersonError as error:
            return web.json_response({"error": error.message}, status=error.status)
        await self._settle()
        return web.json_response({"channel": channel.id, "ts": message.ts, "events": delivered})

    async def deliver(self, event: JSON, channel: Channel | None = None) -> JSON:
        """Send one event to the app as Slack would; what happened. Not sent (`status` None, `skipped` saying why)
        when the app is not subscribed to it or its bot user is not in the channel."""
        slack = self._slack
        kind = str(event["type"])
        if kind not in SUBSCRIBED_EVENTS:
            return {"type": kind, "status": None, "skipped": "the app is not subscribed to this event"}
        if channel is not None and kind != "app_mention" and slack.bot.id not in channel.members:
            return {"type": kind, "status": None, "skipped": "the app's bot user is not in the channel"}
        event_id = "Ev" + secrets.token_hex(5).upper()
        envelope: JSON = {"token": slack.verification_token, "team_id": slack.team_id, "api_app_id": slack.app_id,
                          "event": event, "type": "event_callback", "event_id": event_id,
                          "event_time": int(slack.clock()), "event_context": secrets.token_hex(12),
                          "is_ext_shared_channel": False,
                          "authorizations": [{"enterprise_id": None, "team_id": slack.team_id,
                                              "user_id": slack.bot.id, "is_bot": True,
                                              "is_enterprise_install": False}]}
        if slack.socket_mode.connected:
            ack = await slack.socket_mode.deliver("events_api", envelope, accepts_response_payload=False,
                                                  ack_within=slack.ack_timeout_seconds)
            return {"type": kind, "event_id": event_id, "status": None if ack.error else 200,
                    **({"error": ack.error} if ack.error else {})}
        if not slack.bot_events_url:
            return {"type": kind, "event_id": event_id, "status": None, "error": "the bot is not listening yet"}
        return {"type": kind, "event_id": event_id, **await self._post(json.dumps(envelope))}

    async def _post(self, body: str) -> JSON:
        slack = self._slack
        assert slack.bot_events_url is not None
        timestamp = str(int(time.time()))  # the bot checks it against its own wall clock
        headers = {"Content-Type": "application/json", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                   "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": slack_signature(slack.signing_secret, timestamp, body)}
        try:
            async with slack.session().post(slack.bot_events_url, data=body.encode(), headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=slack.ack_timeout_seconds)) as answer:
                return {"status": answer.status}
        except TimeoutError:
            return {"status": None, "error": "operation_timeout"}
        except aiohttp.ClientError:
            return {"status": None, "error": "dispatch_failed"}

    async def _settle(self) -> None:
        """Give the bot `settle_seconds`, then wait until it has made no call for `quiet_seconds` (capped)."""
        slack = self._slack
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            now = loop.time()
            if now - start >= slack.settle_seconds and now - slack.last_activity >= slack.quiet_seconds:
                return
            if now - start >= slack.settle_seconds + _SETTLE_CAP:
                return
            await asyncio.sleep(0.02)

    def _user(self, data: JSON) -> SlackUser:
        user = self._slack.resolve_user(str(data.get("user") or ""))
        if user is None or user.is_bot:
            raise PersonError(404, f"no Slack user {data.get('user')!r}: use a sandbox person's id, name or email")
        return user

    def _channel(self, data: JSON) -> Channel:
        channel = self._slack.find_channel(str(data.get("channel") or ""))
        if channel is None:
            raise PersonError(404, f"no channel {data.get('channel')!r}")
        return channel


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise PersonError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise PersonError(400, "the body must be a JSON object")
    return data
