"""What people do to a channel itself in the sandbox Slack, and the Events API events Slack then sends the app.

Owns three acts of a person in Slack's client, each under the rules Slack's own method for it has, and the event
each gives the app when it subscribes to it (app_manifest.yml's `bot_events`; `person.subscribed`):
- inviting someone into a channel (`/invite @pavedroad`, "Add people": conversations.invite's rules) →
  `member_joined_channel`, with `inviter` — how the app learns its bot user is back in a channel it was removed from;
- unpinning a message ("Remove from channel details": pins.remove's rules, `not_pinned`) → `pin_removed`;
- renaming a channel (conversations.rename's rules: Slack's name rules, `name_taken`, `not_in_channel`) →
  `channel_rename` (`group_rename` for a private channel).
As for messages and reactions (person.py), the app gets an event only from a conversation its bot user is in, and
a control route waits for the bot to settle before it answers:
  POST /sandbox/slack/invite  {"user", "channel", "invitee"}   (invitee: an id, name or email; the bot's name too)
  POST /sandbox/slack/unpin   {"user", "channel", "ts"}
  POST /sandbox/slack/rename  {"user", "channel", "name"}
→ 200 {"channel", "events": [{"type", "status", …}]}, or {"error": <Slack's error code>} with 400, 404 or 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from sandbox.slack.model import JSON, Channel, SlackApiFailure, SlackUser
from sandbox.slack.person import deliver_events, json_body, subscribed
from sandbox.slack.workspace import SlackWorkspace


@dataclass
class ChannelAct:
    """The channel a person acted on, and the events the app subscribes to that the act gives (before delivery)."""

    channel: Channel
    events: list[JSON] = field(default_factory=list)


def _member_of(slack: SlackWorkspace, user_ref: str, channel_ref: str) -> tuple[SlackUser, Channel]:
    """The person and a channel they are in: `user_not_found`, `channel_not_found` (a private channel they are not
    in is not found for them), `not_in_channel` (a public one they have not joined), `is_archived`."""
    user = slack.resolve_user(user_ref)
    if user is None or user.is_bot:
        raise SlackApiFailure("user_not_found")
    channel = slack.find_channel(channel_ref)
    if channel is None or channel.is_im or (channel.is_private and user.id not in channel.members):
        raise SlackApiFailure("channel_not_found")
    if user.id not in channel.members:
        raise SlackApiFailure("not_in_channel")
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    return user, channel


def invite_as_person(slack: SlackWorkspace, user_ref: str, channel_ref: str, invitee_ref: str) -> ChannelAct:
    """`user` adds `invitee` (a person or the app's bot user) to a channel they are in: `user_not_found`,
    `cant_invite_self`, `already_in_channel` as conversations.invite answers."""
    user, channel = _member_of(slack, user_ref, channel_ref)
    invitee = slack.resolve_user(invitee_ref)
    if invitee is None:
        raise SlackApiFailure("user_not_found")
    if invitee.id == user.id:
        raise SlackApiFailure("cant_invite_self")
    if invitee.id in channel.members:
        raise SlackApiFailure("already_in_channel")
    channel.members.append(invitee.id)
    event: JSON = {"type": "member_joined_channel", "user": invitee.id, "channel": channel.id,
                   "channel_type": "G" if channel.is_private else "C", "team": slack.team_id, "inviter": user.id,
                   "event_ts": slack.next_ts()}
    return ChannelAct(channel, subscribed(slack, [("member_joined_channel", event)]))


def unpin_as_person(slack: SlackWorkspace, user_ref: str, channel_ref: str, ts: str) -> ChannelAct:
    """`user` unpins message `ts` (anyone's pin, the bot's included): `message_not_found`, `not_pinned`."""
    user, channel = _member_of(slack, user_ref, channel_ref)
    message = slack.message_in(channel, ts)
    pin = next((p for p in channel.pins if p.ts == message.ts), None)
    if pin is None:
        raise SlackApiFailure("not_pinned")
    channel.pins.remove(pin)
    event: JSON = {"type": "pin_removed", "user": user.id, "channel_id": channel.id, "item_user": message.user,
                   "item": {"type": "message", "channel": channel.id, "created": pin.created,
                            "created_by": pin.created_by, "message": message.to_api(slack.team_id)},
                   "pin_count": str(len(channel.pins)), "has_pins": bool(channel.pins), "event_ts": slack.next_ts()}
    return ChannelAct(channel, subscribed(slack, [("pin_removed", event)]))


def rename_as_person(slack: SlackWorkspace, user_ref: str, channel_ref: str, name: str) -> ChannelAct:
    """`user` renames a channel they are in, under Slack's name rules (`invalid_name_*`, `name_taken`)."""
    _, channel = _member_of(slack, user_ref, channel_ref)
    if name != channel.name:
        slack.channels.rename(channel.id, slack.check_channel_name(name))
    kind = "group_rename" if channel.is_private else "channel_rename"
    event: JSON = {"type": kind, "channel": {"id": channel.id, "name": channel.name, "name_normalized": channel.name,
                                             "created": channel.created},
                   "event_ts": slack.next_ts()}
    return ChannelAct(channel, subscribed(slack, [(kind, event)]))


_STATUS = {"already_in_channel": 409, "not_pinned": 409, "name_taken": 409, "is_archived": 409,
           "not_in_channel": 409, "cant_invite_self": 400}


def add_routes(app: web.Application, slack: SlackWorkspace) -> None:
    def route(fields: tuple[str, ...], act: Callable[..., ChannelAct]
              ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            data = await json_body(request)
            if data is None or not all(isinstance(data.get(f), str) for f in fields):
                wanted = ", ".join(f'"{f}"' for f in fields)
                return web.json_response({"error": f"send {{{wanted}}} as a JSON object of strings"}, status=400)
            try:
                done = act(slack, *(data[f] for f in fields))
            except SlackApiFailure as failure:
                code = failure.error
                status = 404 if code.endswith("not_found") else _STATUS.get(code, 400)
                return web.json_response({"error": code}, status=status)
            return web.json_response({"channel": done.channel.id,
                                      "events": await deliver_events(slack, done.events)})
        return handle

    app.router.add_post("/sandbox/slack/invite", route(("user", "channel", "invitee"), invite_as_person))
    app.router.add_post("/sandbox/slack/unpin", route(("user", "channel", "ts"), unpin_as_person))
    app.router.add_post("/sandbox/slack/rename", route(("user", "channel", "name"), rename_as_person))
