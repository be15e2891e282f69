"""The `conversations.*` Web API methods: channels created, joined, left, archived, listed and read, members invited,
topics set, the bot's direct message with a person opened; with Slack's cursor pagination."""

from __future__ import annotations

import base64
import binascii

from sandbox.slack.model import JSON, Args, Channel, Message, SlackApiFailure
from sandbox.slack.workspace import SlackWorkspace, WebApiMethod


def conversations_create(slack: SlackWorkspace, args: Args) -> JSON:
    name = slack.check_channel_name(args.text("name"))
    channel = slack.new_channel(name, is_private=args.flag("is_private"))
    return {"channel": channel.to_api(slack.bot.id)}


def conversations_invite(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    ids = list(dict.fromkeys(u.strip() for u in (args.text("users") or "").split(",") if u.strip()))
    if not ids:
        raise SlackApiFailure("no_user")
    if len(ids) > 1000:
        raise SlackApiFailure("too_many_users")
    if channel.is_im:
        raise SlackApiFailure("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if slack.bot.id not in channel.members:
        raise SlackApiFailure("not_in_channel")
    failures: list[JSON] = []
    invited: list[str] = []
    already: list[JSON] = []
    for user_id in ids:
        if user_id == slack.bot.id:
            failures.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
        elif slack.account(user_id) is None:
            failures.append({"user": user_id, "ok": False, "error": "user_not_found"})
        elif user_id in channel.members:
            already.append({"user": user_id, "ok": False, "error": "already_in_channel"})
        else:
            invited.append(user_id)
    # Without `force`, one bad id fails the whole call; users already in are skipped unless all of them are.
    if failures and not (args.flag("force") and invited):
        raise SlackApiFailure(str(failures[0]["error"]), errors=failures + already)
    if not invited:
        raise SlackApiFailure("already_in_channel", errors=already)
    channel.members.extend(invited)
    result: JSON = {"channel": channel.to_api(slack.bot.id)}
    if failures:
        result["errors"] = failures
    return result


def conversations_set_topic(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    topic = args.text("topic") or ""
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if slack.bot.id not in channel.members:
        raise SlackApiFailure("not_in_channel")
    if len(topic) > 250:
        raise SlackApiFailure("too_long")
    channel.topic, channel.topic_creator, channel.topic_last_set = topic, slack.bot.id, int(slack.clock())
    return {"channel": channel.to_api(slack.bot.id)}


def conversations_info(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    slack.need_read(channel, "read")
    return {"channel": channel.to_api(slack.bot.id, num_members=args.flag("include_num_members"))}


def conversations_list(slack: SlackWorkspace, args: Args) -> JSON:
    types = set((args.text("types") or "public_channel").replace(" ", "").split(","))
    if not types <= {"public_channel", "private_channel", "mpim", "im"}:
        raise SlackApiFailure("invalid_types")
    for kind, scope in (("public_channel", "channels:read"), ("private_channel", "groups:read")):
        if kind in types:
            slack.need_scope(scope)
    exclude_archived = args.flag("exclude_archived")

    def listed(c: Channel) -> bool:
        kind = "im" if c.is_im else "private_channel" if c.is_private else "public_channel"
        return kind in types and slack.visible(c) and not (exclude_archived and c.is_archived)

    keys = [c.id for c in slack.channels.values() if listed(c)]
    page, next_cursor = _page(keys, args)
    return {"channels": [slack.channels[k].to_api(slack.bot.id) for k in page],
            "response_metadata": {"next_cursor": next_cursor}}


def conversations_members(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    page, next_cursor = _page(list(channel.members), args)
    return {"members": page, "response_metadata": {"next_cursor": next_cursor}}


def conversations_history(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    slack.need_read(channel, "history")
    if slack.bot.id not in channel.members:
        raise SlackApiFailure("not_in_channel")
    try:
        oldest = float(args.text("oldest") or 0)
    except ValueError:
        raise SlackApiFailure("invalid_ts_oldest") from None
    try:
        latest = float(args.text("latest") or "inf")
    except ValueError:
        raise SlackApiFailure("invalid_ts_latest") from None
    inclusive = args.flag("inclusive")

    def listed(m: Message) -> bool:
        ts = float(m.ts)
        in_range = (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)
        # History shows top-level messages; thread replies and ephemeral messages are not in it.
        return in_range and not m.ephemeral_to and (not m.thread_ts or m.thread_ts == m.ts)

    keys = [m.ts for m in reversed(channel.messages.values()) if listed(m)]
    page, next_cursor = _page(keys, args)
    with_metadata = args.flag("include_all_metadata")
    return {"messages": [channel.messages[ts].to_api(slack.team_id, include_metadata=with_metadata)
                         for ts in page],
            "has_more": bool(next_cursor), "pin_count": len(channel.pins),
            "response_metadata": {"next_cursor": next_cursor}}


def conversations_replies(slack: SlackWorkspace, args: Args) -> JSON:
    """A thread: its parent first, then the replies in order, within oldest/latest (inclusive or not); `ts` may name
    the parent or any reply. A message that is not there, or not in a thread's channel, is thread_not_found."""
    channel = slack.channel_arg(args)
    slack.need_read(channel, "history")
    if slack.bot.id not in channel.members:
        raise SlackApiFailure("not_in_channel")
    message = channel.messages.get(args.required("ts"))
    if message is None or message.ephemeral_to:
        raise SlackApiFailure("thread_not_found")
    root = message.thread_ts or message.ts
    try:
        oldest = float(args.text("oldest") or 0)
        latest = float(args.text("latest") or "inf")
    except ValueError:
        raise SlackApiFailure("invalid_arguments") from None
    inclusive = args.flag("inclusive")

    def listed(m: Message) -> bool:
        ts = float(m.ts)
        in_range = (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)
        return in_range and not m.ephemeral_to and (m.ts == root or m.thread_ts == root)

    keys = [m.ts for m in channel.messages.values() if listed(m)]
    page, next_cursor = _page(keys, args, default_limit=1000)
    with_metadata = args.flag("include_all_metadata")
    return {"messages": [channel.messages[ts].to_api(slack.team_id, include_metadata=with_metadata) for ts in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor}}


def conversations_archive(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    if channel.is_im:
        raise SlackApiFailure("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackApiFailure("already_archived")
    if channel.name == "general":
        raise SlackApiFailure("cant_archive_general")
    channel.is_archived = True
    return {}


def conversations_join(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    if channel.is_im or channel.is_private:
        raise SlackApiFailure("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if slack.bot.id in channel.members:
        return {"channel": channel.to_api(slack.bot.id), "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]}}
    channel.members.append(slack.bot.id)
    return {"channel": channel.to_api(slack.bot.id)}


def conversations_leave(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    if channel.is_im:
        raise SlackApiFailure("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if channel.name == "general":
        raise SlackApiFailure("cant_leave_general")
    if slack.bot.id not in channel.members:
        return {"not_in_channel": True}
    channel.members.remove(slack.bot.id)
    return {}


def conversations_open(slack: SlackWorkspace, args: Args) -> JSON:
    """The bot's direct message with one person (`users`), or one it has (`channel`), opened or resumed: im:write.
    Several users make a multi-person DM in Slack (mpim:write), which the sandbox does not model: refused."""
    channel_ref, users = args.text("channel"), [u for u in (args.text("users") or "").split(",") if u]
    if not channel_ref and not users:
        raise SlackApiFailure("users_list_not_supplied")
    slack.need_scope("im:write")
    if channel_ref:
        channel = slack.channels.get(channel_ref)
        if channel is None or not channel.is_im or slack.bot.id not in channel.members:
            raise SlackApiFailure("channel_not_found")
        return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
    if len(users) > 1:
        raise SlackApiFailure("method_not_supported_for_channel_type")  # an mpim: not modelled
    user = slack.account(users[0])
    if user is None or user.id == slack.bot.id:
        raise SlackApiFailure("user_not_found")
    opened = len(slack.channels)
    channel = slack.im_with(user)
    already = len(slack.channels) == opened
    body: JSON = {"channel": channel.to_api(slack.bot.id) if args.flag("return_im") else {"id": channel.id}}
    return {**body, "no_op": already, "already_open": already} if already else body


def _cursor(next_key: str | None) -> str:
    return base64.b64encode(f"next:{next_key}".encode()).decode() if next_key else ""



def _page(keys: list[str], args: Args, default_limit: int = 100) -> tuple[list[str], str]:
    """One page of `keys` from `cursor` (an opaque token naming the first key of the page), and the next cursor."""
    limit = args.integer("limit", default_limit)
    if limit < 0:
        raise SlackApiFailure("invalid_limit")
    limit = min(limit or default_limit, 1000)
    start = 0
    cursor = args.text("cursor")
    if cursor:
        try:
            key = base64.b64decode(cursor, validate=True).decode().removeprefix("next:")
            start = keys.index(key)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise SlackApiFailure("invalid_cursor") from None
    page = keys[start:start + limit]
    return page, _cursor(keys[start + limit] if start + limit < len(keys) else None)


METHODS: dict[str, WebApiMethod] = {
    "conversations.create": conversations_create,
    "conversations.invite": conversations_invite,
    "conversations.setTopic": conversations_set_topic,
    "conversations.info": conversations_info,
    "conversations.list": conversations_list,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.archive": conversations_archive,
    "conversations.join": conversations_join,
    "conversations.leave": conversations_leave,
    "conversations.open": conversations_open,
}
