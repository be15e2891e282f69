"""A person typing in the sandbox Slack: what the Slack client sends for what they typed, and posting a message as
them with the events Slack then sends the app.

Owns `typed_text` (the client's escaping: `&`, `<`, `>` as entities; a typed `@name` becomes a mention, `<@U…>` in a
message and `<@U…|name>` in a command that has `should_escape`; `#channel` likewise), `post_as_person` (the message
in the channel, the person joined to it first as Slack's "Join channel" would, and the Events API events the app is
subscribed to: `message.channels`/`.groups`/`.im`, `app_mention`, `member_joined_channel`) and the control route
  POST /sandbox/slack/message  {"user", "channel", "text", "thread_ts"?}
→ 200 {"message": {"channel", "ts", "text"}, "events": [{"type", "status"|"error"}]}.
Events go over the bot's Socket Mode connection while it holds one, else as a signed JSON POST to its events URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from sandbox.slack.model import JSON, Message, SlackApiFailure
from sandbox.slack.workspace import SlackWorkspace

# What a person may type before a name: the start, a space or an opening bracket (not "ben.okafor@example.com").
_TYPED_MENTION = re.compile(r"(?<![\w@.<])@([a-z0-9][a-z0-9._-]*)")
_TYPED_CHANNEL = re.compile(r"(?<![\w#&<])#([a-z0-9][a-z0-9_-]*)")
_SLACK_MARKUP = re.compile(r"(<(?:[@#!][^<>]+|https?://[^<>]+)>)")


def escape_typed(text: str) -> str:
    """What Slack sends for what a person typed: &, < and > escaped as HTML entities, while mentions, channels and
    links (`<@U…|name>`, `<#C…|name>`, `<https://…>`, which Slack itself produces) are kept as they are."""
    parts = _SLACK_MARKUP.split(text)
    return "".join(part if i % 2 else part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   for i, part in enumerate(parts))


def typed_text(slack: SlackWorkspace, text: str, *, with_names: bool) -> str:
    """Text as the Slack client sends it: escaped, and each typed `@name` / `#channel` that names someone or a
    channel in the workspace turned into Slack's markup (`with_names`: `<@U…|name>`, as a command with
    should_escape gets it; else `<@U…>`, as in a message). Names that match nobody stay as typed."""

    def mention(match: re.Match[str]) -> str:
        name, rest = match[1], ""
        while name and slack.resolve_user(name) is None and name[-1] in "._-":
            name, rest = name[:-1], name[-1] + rest  # "@chloe.martin." ends a sentence
        user = slack.resolve_user(name) if name else None
        if user is None:
            return match[0]
        return (f"<@{user.id}|{user.name}>" if with_names else f"<@{user.id}>") + rest

    def channel(match: re.Match[str]) -> str:
        found = slack.find_channel(match[1])
        if found is None or found.is_im:
            return match[0]
        return f"<#{found.id}|{found.name}>" if with_names else f"<#{found.id}>"

    parts = _SLACK_MARKUP.split(escape_typed(text))
    return "".join(part if i % 2 else _TYPED_CHANNEL.sub(channel, _TYPED_MENTION.sub(mention, part))
                   for i, part in enumerate(parts))


@dataclass
class PersonPost:
    """A message a person posted, and the Events API events it gives the app (before delivery)."""

    message: Message
    events: list[JSON] = field(default_factory=list)


def post_as_person(slack: SlackWorkspace, user_ref: str, channel_ref: str, text: str, *,
                   thread_ts: str | None = None) -> PersonPost:
    """Post `text` as a person in a channel, as the Slack client would. Raises SlackApiFailure with the error Slack
    names: `user_not_found`, `channel_not_found` (or a private channel they are not in), `is_archived`,
    `no_text`, `msg_too_long`, `thread_not_found`."""
    user = slack.resolve_user(user_ref)
    if user is None or user.is_bot:
        raise SlackApiFailure("user_not_found")
    channel = slack.find_channel(channel_ref)
    if channel is None or ((channel.is_private or channel.is_im) and user.id not in channel.members):
        raise SlackApiFailure("channel_not_found")
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if not text.strip():
        raise SlackApiFailure("no_text")
    if len(text) > 40_000:
        raise SlackApiFailure("msg_too_long")
    if thread_ts and thread_ts not in channel.messages:
        raise SlackApiFailure("thread_not_found")
    events: list[JSON] = []
    if user.id not in channel.members:  # Slack's "Join channel", which posting in a public channel offers first
        channel.members.append(user.id)
        events.append({"type": "member_joined_channel", "user": user.id, "channel": channel.id,
                       "channel_type": "C", "team": slack.team_id, "event_ts": slack.next_ts()})
    message = slack.post(channel, typed_text(slack, text, with_names=False), [], user=user.id, thread_ts=thread_ts)
    kind = "im" if channel.is_im else "group" if channel.is_private else "channel"
    event: JSON = {"type": "message", "channel": channel.id, "user": user.id, "text": message.text,
                   "ts": message.ts, "event_ts": message.ts, "channel_type": kind, "team": slack.team_id}
    if message.thread_ts:
        event["thread_ts"] = message.thread_ts
    events.append(event | {"subscription": f"message.{kind}s" if kind != "im" else "message.im"})
    if f"<@{slack.bot.id}>" in message.text:
        events.append({**{k: v for k, v in event.items() if k != "channel_type"}, "type": "app_mention"})
    wanted = [e for e in events if e.pop("subscription", e["type"]) in slack.bot_events]
    return PersonPost(message, wanted)


async def deliver_event(slack: SlackWorkspace, event: JSON) -> JSON:
    """One Events API event to the app, as Slack sends it: answers `{"type", "status"}` or `{"type", "error"}`."""
    envelope: JSON = {
        "token": slack.verification_token, "team_id": slack.team_id, "api_app_id": slack.app_id, "event": event,
        "type": "event_callback", "event_id": "Ev" + secrets.token_hex(6).upper(),
        "event_time": int(slack.clock()), "is_ext_shared_channel": False,
        "authorizations": [{"enterprise_id": None, "team_id": slack.team_id, "user_id": slack.bot.id,
                            "is_bot": True, "is_enterprise_install": False}],
    }
    if slack.socket_mode.connected:
        ack = await slack.socket_mode.deliver("events_api", envelope, accepts_response_payload=False,
                                              ack_within=slack.ack_timeout_seconds)
        return {"type": event["type"], "error": ack.error} if ack.error else {"type": event["type"], "status": 200}
    if not slack.bot_events_url:
        return {"type": event["type"], "error": "dispatch_failed"}
    body = json.dumps(envelope)
    timestamp = str(int(time.time()))  # checked against the bot's wall clock, as in user.py
    base = f"v0:{timestamp}:{body}".encode()
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": "v0=" + hmac.new(slack.signing_secret.encode(), base, hashlib.sha256).hexdigest(),
               "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    try:
        async with slack.session().post(slack.bot_events_url, data=body.encode(), headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=slack.ack_timeout_seconds)) as response:
            return {"type": event["type"], "status": response.status}
    except TimeoutError:
        return {"type": event["type"], "error": "operation_timeout"}
    except aiohttp.ClientError:
        return {"type": event["type"], "error": "dispatch_failed"}


def add_routes(app: web.Application, slack: SlackWorkspace) -> None:
    async def message(request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return web.json_response({"error": "send {\"user\", \"channel\", \"text\"} as a JSON object"}, status=400)
        try:
            posted = post_as_person(slack, str(data.get("user") or ""), str(data.get("channel") or ""),
                                    data["text"], thread_ts=str(data["thread_ts"]) if data.get("thread_ts") else None)
        except SlackApiFailure as failure:
            status = 404 if failure.error.endswith("not_found") else 409 if failure.error == "is_archived" else 400
            return web.json_response({"error": failure.error}, status=status)
        delivered = [await deliver_event(slack, event) for event in posted.events]
        m = posted.message
        return web.json_response({"message": {"channel": m.channel, "ts": m.ts, "text": m.text,
                                              "thread_ts": m.thread_ts}, "events": delivered})

    app.router.add_post("/sandbox/slack/message", message)

