"""A person typing and reacting in the sandbox Slack, and the Events API events Slack then sends the app.

Owns `typed_text` (the client's escaping: `&`, `<`, `>` as entities; a typed `@name` becomes a mention, `<@U…>` in a
message and `<@U…|name>` in a command that has `should_escape`; `#channel` likewise), `post_as_person` (the message
in the channel, the person joined to it first as Slack's "Join channel" would), `react_as_person` (a reaction on a
message), the events each gives the app (`message.channels`/`.groups`/`.im`, `app_mention`, `member_joined_channel`,
`reaction_added`), `delete_as_admin` (a workspace admin deleting anyone's message), `deliver_event` (the one way
an Events API event reaches the app; `deliver_envelope` sends it again as Slack's retry of a delivery it took to have
failed), `deliver_events` (how a control route sends an act's events and waits for the bot: these routes' and
sandbox/slack/home.py's opening of the App Home tab) and the control routes
  POST /sandbox/slack/message   {"user", "channel", "text", "thread_ts"?}
  POST /sandbox/slack/reaction  {"user", "channel", "ts", "name"}
→ 200 {"channel", "ts", "message": {"channel", "ts", "text", "thread_ts"}, "events": [{"type", "status", …}]},
or {"error": <Slack's error code>} with 400, 404 or 409. `user` is an id, name or email, `channel` an id or name.
  DELETE /sandbox/slack/messages/{channel}/{ts}  (a workspace admin deletes the message)
→ 200 {"channel", "ts", "tombstone", "events"}, or {"error"}: `channel_not_found`, `message_not_found` (404).

What Slack does, kept here: a person posts only where they are a member (or in a public channel, which they join
by posting) and never in an archived channel; a reaction needs a message that is there, the name of an emoji Slack
knows (a standard one or one of the workspace's custom emoji, `emoji.py`; else `invalid_name`) and is
`already_reacted` when that person already added it. The app gets only
the events it subscribes to — the workspace's `bot_events`, app_manifest.yml's (tests/test_manifest.py keeps them
equal); an event it is not subscribed to is not listed in `events` — and only from conversations its bot user is in
(an event it would get but for that is listed with `status` null and `skipped` saying why). Events are
`event_callback` envelopes, signed like every Slack request, over the bot's Socket Mode connection while it holds
one, else POSTed to its events URL. A route that sent the app something waits for the bot to settle
(`SlackWorkspace.settled`) before it answers.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.slack.emoji import is_emoji
from sandbox.slack.model import JSON, Channel, Message, SlackApiFailure, SlackUser
from sandbox.slack.workspace import SlackWorkspace, slack_signature

# What a person may type before a name: the start, a space or an opening bracket (not "ben.okafor@example.com").
_TYPED_MENTION = re.compile(r"(?<![\w@.<])@([a-z0-9][a-z0-9._-]*)")
_TYPED_CHANNEL = re.compile(r"(?<![\w#&<])#([a-z0-9][a-z0-9_-]*)")
_SLACK_MARKUP = re.compile(r"(<(?:[@#!][^<>]+|https?://[^<>]+)>)")
_REACTION_NAME = re.compile(r"[a-z0-9_+'-]{1,100}(::skin-tone-[2-6])?")
MAX_MESSAGE_LENGTH = 40_000  # Slack's msg_too_long


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
class PersonAct:
    """A message a person posted or reacted to, and the Events API events the app subscribes to that it gives
    (before delivery)."""

    message: Message
    events: list[JSON] = field(default_factory=list)


def _person_in(slack: SlackWorkspace, user_ref: str, channel_ref: str) -> tuple[SlackUser, Channel]:
    """The person and a channel they can see, or Slack's `user_not_found` / `channel_not_found` (a private channel
    or DM they are not in is not found, as Slack answers)."""
    user = slack.resolve_user(user_ref)
    if user is None or user.is_bot:
        raise SlackApiFailure("user_not_found")
    channel = slack.find_channel(channel_ref)
    if channel is None or ((channel.is_private or channel.is_im) and user.id not in channel.members):
        raise SlackApiFailure("channel_not_found")
    return user, channel


def _channel_type(channel: Channel) -> str:
    return "im" if channel.is_im else "group" if channel.is_private else "channel"


def subscribed(slack: SlackWorkspace, events: list[tuple[str, JSON]]) -> list[JSON]:
    """The events whose subscription (the name in the manifest: `message.channels` for a message in a public
    channel, else the event's type) the app has."""
    return [event for subscription, event in events if subscription in slack.bot_events]


def post_as_person(slack: SlackWorkspace, user_ref: str, channel_ref: str, text: str, *,
                   thread_ts: str | None = None) -> PersonAct:
    """Post `text` as a person in a channel, as the Slack client would. Raises SlackApiFailure with the error Slack
    names: `user_not_found`, `channel_not_found` (or a private channel they are not in), `is_archived`,
    `no_text`, `msg_too_long`, `thread_not_found`."""
    user, channel = _person_in(slack, user_ref, channel_ref)
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if not text.strip():
        raise SlackApiFailure("no_text")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise SlackApiFailure("msg_too_long")
    if thread_ts and thread_ts not in channel.messages:
        raise SlackApiFailure("thread_not_found")
    events: list[tuple[str, JSON]] = []
    kind = _channel_type(channel)
    if user.id not in channel.members:  # Slack's "Join channel", which posting in a public channel offers first
        channel.members.append(user.id)
        events.append(("member_joined_channel", {"type": "member_joined_channel", "user": user.id,
                                                 "channel": channel.id, "channel_type": "C", "team": slack.team_id,
                                                 "event_ts": slack.next_ts()}))
    message = slack.post(channel, typed_text(slack, text, with_names=False), [], user=user.id, thread_ts=thread_ts)
    event: JSON = {"type": "message", "channel": channel.id, "user": user.id, "text": message.text,
                   "ts": message.ts, "event_ts": message.ts, "channel_type": kind, "team": slack.team_id}
    if message.thread_ts:
        event["thread_ts"] = message.thread_ts
    events.append((f"message.{kind}s" if kind != "im" else "message.im", event))
    # A mention in a DM with the app is only a message.im, never an app_mention (as Slack documents).
    if f"<@{slack.bot.id}>" in message.text and not channel.is_im:
        mention = {k: v for k, v in event.items() if k != "channel_type"} | {"type": "app_mention"}
        events.append(("app_mention", mention))
    return PersonAct(message, subscribed(slack, events))


def react_as_person(slack: SlackWorkspace, user_ref: str, channel_ref: str, ts: str, name: str) -> PersonAct:
    """Add the reaction `name` (colons allowed around it) to message `ts` as a person. Raises SlackApiFailure with
    the error Slack's reactions.add names: `user_not_found`, `channel_not_found`, `is_archived`, `invalid_name`,
    `message_not_found` (an ephemeral message is not there for reactions), `already_reacted`."""
    user, channel = _person_in(slack, user_ref, channel_ref)
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    name = name.strip().strip(":")
    if not _REACTION_NAME.fullmatch(name) or not is_emoji(name, slack.custom_emoji):
        raise SlackApiFailure("invalid_name")  # not an emoji Slack knows: neither standard nor the workspace's
    message = slack.message_in(channel, ts)
    users = message.reactions.setdefault(name, [])
    if user.id in users:
        raise SlackApiFailure("already_reacted")
    users.append(user.id)
    event: JSON = {"type": "reaction_added", "user": user.id, "reaction": name, "item_user": message.user,
                   "item": {"type": "message", "channel": channel.id, "ts": message.ts},
                   "event_ts": slack.next_ts()}
    return PersonAct(message, subscribed(slack, [("reaction_added", event)]))


def delete_as_admin(slack: SlackWorkspace, channel_ref: str, ts: str) -> PersonAct:
    """A workspace admin deletes message `ts` (anyone's, the bot's included) as Slack's client lets them: gone, its
    pin with it, or a tombstone where it was a thread's parent (`SlackWorkspace.delete`). The app subscribed to the
    conversation's messages would get `message_deleted` (`message_changed` to the tombstone). Raises
    SlackApiFailure: `channel_not_found`, `message_not_found` (an ephemeral message, or one deleted already)."""
    channel = slack.find_channel(channel_ref)
    if channel is None:
        raise SlackApiFailure("channel_not_found")
    message = channel.messages.get(ts)
    if message is None or message.ephemeral_to or message.subtype == "tombstone":
        raise SlackApiFailure("message_not_found")
    previous = message.to_api(slack.team_id)
    slack.delete(channel, message)
    kind, event_ts = _channel_type(channel), slack.next_ts()
    event: JSON = {"type": "message", "hidden": True, "channel": channel.id, "ts": event_ts, "event_ts": event_ts,
                   "channel_type": kind, "previous_message": previous}
    if message.subtype == "tombstone":
        event |= {"subtype": "message_changed", "message": message.to_api(slack.team_id)}
    else:
        event |= {"subtype": "message_deleted", "deleted_ts": message.ts}
    return PersonAct(message, subscribed(slack, [(f"message.{kind}s" if kind != "im" else "message.im", event)]))


def _event_channel(event: JSON) -> str:
    """The conversation an event happened in (a reaction's is its `item`'s, a pin's its `channel_id`, a rename's the
    id of its `channel` object)."""
    channel = event.get("channel") or event.get("channel_id") or (event.get("item") or {}).get("channel")
    return str((channel.get("id") if isinstance(channel, dict) else channel) or "")


def event_envelope(slack: SlackWorkspace, event: JSON) -> JSON:
    """The `event_callback` envelope Slack wraps one event in, with a new `event_id`: what a retry sends again."""
    return {
        "token": slack.verification_token, "team_id": slack.team_id, "api_app_id": slack.app_id, "event": event,
        "type": "event_callback", "event_id": "Ev" + secrets.token_hex(6).upper(),
        "event_time": int(slack.clock()), "event_context": secrets.token_hex(12), "is_ext_shared_channel": False,
        "authorizations": [{"enterprise_id": None, "team_id": slack.team_id, "user_id": slack.bot.id,
                            "is_bot": True, "is_enterprise_install": False}],
    }


async def deliver_event(slack: SlackWorkspace, event: JSON) -> JSON:
    """One Events API event to the app, as Slack sends it; what happened: `{"type", "status"}` with the bot's HTTP
    status (200 for a Socket Mode ack), `"error"` as well when it did not get there, or `"skipped"` (status null)
    when the event is in a conversation the app's bot user is not in, where Slack sends it nothing."""
    kind = str(event["type"])
    channel = slack.channels.get(_event_channel(event))
    if channel is not None and slack.bot.id not in channel.members:
        return {"type": kind, "status": None, "skipped": "the app's bot user is not in the channel"}
    return await deliver_envelope(slack, event_envelope(slack, event))


async def deliver_envelope(slack: SlackWorkspace, envelope: JSON, *, retry: int | None = None,
                           reason: str = "http_timeout") -> JSON:
    """Send an event's envelope (`event_envelope`); `retry`: Slack's retry number of an envelope sent before, whose
    delivery it took to have failed (no 2xx within its 3 seconds): the same envelope, `event_id` and all, with
    X-Slack-Retry-Num and X-Slack-Retry-Reason (`reason`: http_timeout, http_error, ...), or over Socket Mode its
    `retry_attempt` and `retry_reason`. Slack retries a failed delivery three times: at once, after a minute and
    after five; the caller says when."""
    kind = str(envelope["event"]["type"])
    if slack.socket_mode.connected:
        ack = await slack.socket_mode.deliver("events_api", envelope, accepts_response_payload=False,
                                              ack_within=slack.ack_timeout_seconds, retry_attempt=retry,
                                              retry_reason=reason if retry is not None else None)
        return {"type": kind, "status": None, "error": ack.error} if ack.error \
            else {"type": kind, "status": 200}
    if not slack.bot_events_url:
        return {"type": kind, "status": None, "error": "dispatch_failed"}
    body = json.dumps(envelope)
    timestamp = str(int(time.time()))  # the bot checks it against its own wall clock, not the sandbox's
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": slack_signature(slack.signing_secret, timestamp, body),
               "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": reason}
    try:
        async with slack.session().post(slack.bot_events_url, data=body.encode(), headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=slack.ack_timeout_seconds)) as response:
            return {"type": kind, "status": response.status}
    except TimeoutError:
        return {"type": kind, "status": None, "error": "operation_timeout"}
    except aiohttp.ClientError:
        return {"type": kind, "status": None, "error": "dispatch_failed"}


# Slack's error codes that are not a bad request: what they name is not there, or the state refuses it.
_CONFLICTS = frozenset({"is_archived", "already_reacted"})


def _status(error: str) -> int:
    return 404 if error.endswith("not_found") else 409 if error in _CONFLICTS else 400


async def deliver_events(slack: SlackWorkspace, events: list[JSON]) -> list[JSON]:
    """What a control route does with the events a person's act gives the app: each through `deliver_event`, in
    order, then — when the bot got any — wait for it to settle, so the route reports what the bot did with them."""
    delivered = [await deliver_event(slack, event) for event in events]
    if any("skipped" not in report for report in delivered):
        await slack.settled()
    return delivered


def add_routes(app: web.Application, slack: SlackWorkspace) -> None:
    async def answer(act: PersonAct) -> web.Response:
        delivered = await deliver_events(slack, act.events)
        m = act.message
        return web.json_response({"channel": m.channel, "ts": m.ts, "events": delivered,
                                  "message": {"channel": m.channel, "ts": m.ts, "text": m.text,
                                              "thread_ts": m.thread_ts}})

    async def message(request: web.Request) -> web.Response:
        data = await json_body(request)
        if data is None or not isinstance(data.get("text"), str):
            return web.json_response({"error": "send {\"user\", \"channel\", \"text\"} as a JSON object"}, status=400)
        try:
            act = post_as_person(slack, str(data.get("user") or ""), str(data.get("channel") or ""), data["text"],
                                 thread_ts=str(data["thread_ts"]) if data.get("thread_ts") else None)
        except SlackApiFailure as failure:
            return web.json_response({"error": failure.error}, status=_status(failure.error))
        return await answer(act)

    async def reaction(request: web.Request) -> web.Response:
        data = await json_body(request)
        if data is None:
            return web.json_response({"error": "send {\"user\", \"channel\", \"ts\", \"name\"} as a JSON object"},
                                     status=400)
        try:
            act = react_as_person(slack, str(data.get("user") or ""), str(data.get("channel") or ""),
                                  str(data.get("ts") or ""), str(data.get("name") or ""))
        except SlackApiFailure as failure:
            return web.json_response({"error": failure.error}, status=_status(failure.error))
        return await answer(act)

    async def deleted(request: web.Request) -> web.Response:
        try:
            act = delete_as_admin(slack, request.match_info["channel"], request.match_info["ts"])
        except SlackApiFailure as failure:
            return web.json_response({"error": failure.error}, status=_status(failure.error))
        m = act.message
        return web.json_response({"channel": m.channel, "ts": m.ts, "tombstone": m.subtype == "tombstone",
                                  "events": await deliver_events(slack, act.events)})

    app.router.add_post("/sandbox/slack/message", message)
    app.router.add_post("/sandbox/slack/reaction", reaction)
    app.router.add_delete("/sandbox/slack/messages/{channel}/{ts}", deleted)


async def json_body(request: web.Request) -> dict[str, Any] | None:
    """A control route's JSON object body; None for anything else."""
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
