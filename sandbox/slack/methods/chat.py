"""The `chat.*` and `pins.*` Web API methods: messages posted (in channels, threads, DMs and ephemerally), updated,
deleted, linked to and pinned; with Slack's checks on text, blocks, attachments and message metadata."""

from __future__ import annotations

from sandbox.slack.blocks import block_errors, normalised_blocks
from sandbox.slack.model import JSON, Args, Pin, SlackApiFailure
from sandbox.slack.workspace import SlackWorkspace, WebApiMethod


def chat_post_message(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args, by_name=True, by_user=True)
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if slack.bot.id not in channel.members and "chat:write.public" not in slack.bot_scopes:
        raise SlackApiFailure("not_in_channel")  # a public channel the bot is not in takes posts with that scope only
    text, blocks, attachments = _content(args)
    message = slack.post(channel, text or "", blocks or [], thread_ts=args.text("thread_ts"),
                         attachments=attachments, metadata=_metadata(args))
    return {"channel": channel.id, "ts": message.ts, "message": message.to_api(slack.team_id)}


def chat_update(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    message = slack.message_in(channel, args.required("ts"))
    if message.user != slack.bot.id:
        raise SlackApiFailure("cant_update_message")
    if channel.is_archived:
        raise SlackApiFailure("is_inactive")
    text, blocks, attachments = _content(args)
    # Slack keeps what the update leaves out: blocks and attachments unless given (an empty list clears them).
    if text is not None:
        message.text = text
    if blocks is not None:
        message.blocks = normalised_blocks(blocks)
    if attachments is not None:
        message.attachments = attachments
    metadata = _metadata(args)
    if metadata is not None:
        message.metadata = metadata
    message.edited, message.edited_ts = True, slack.next_ts()
    return {"channel": channel.id, "ts": message.ts, "text": message.text,
            "message": message.to_api(slack.team_id)}


def chat_delete(slack: SlackWorkspace, args: Args) -> JSON:
    """A bot token deletes only the bot's own messages (`cant_delete_message` for anyone else's, a thread parent's
    tombstone included); its pin goes with it, and a thread parent with replies leaves a tombstone."""
    channel = slack.channel_arg(args)
    message = channel.messages.get(args.text("ts") or "")
    if message is None or message.ephemeral_to:
        raise SlackApiFailure("message_not_found")
    if message.user != slack.bot.id:
        raise SlackApiFailure("cant_delete_message")
    slack.delete(channel, message)
    return {"channel": channel.id, "ts": message.ts}


def chat_post_ephemeral(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args, by_name=True)
    user = slack.user_arg(args)
    if channel.is_archived:
        raise SlackApiFailure("is_archived")
    if user.id not in channel.members:
        raise SlackApiFailure("user_not_in_channel")
    text, blocks, attachments = _content(args)
    message = slack.post(channel, text or "", blocks or [], thread_ts=args.text("thread_ts"),
                         ephemeral_to=user.id, attachments=attachments)
    return {"message_ts": message.ts}


def chat_get_permalink(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    message = slack.message_in(channel, args.required("message_ts"))
    link = f"https://{slack.team_domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.thread_ts and message.thread_ts != message.ts:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def pins_add(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    ts = args.required("timestamp", "no_item_specified")
    message = slack.message_in(channel, ts)
    if any(pin.ts == message.ts for pin in channel.pins):
        raise SlackApiFailure("already_pinned")
    channel.pins.append(Pin(ts=message.ts, created=int(slack.clock()), created_by=slack.bot.id))
    return {}


def pins_list(slack: SlackWorkspace, args: Args) -> JSON:
    channel = slack.channel_arg(args)
    items = [{"type": "message", "created": pin.created, "created_by": pin.created_by, "channel": channel.id,
              "message": channel.messages[pin.ts].to_api(slack.team_id)}
             for pin in reversed(channel.pins) if pin.ts in channel.messages]
    return {"items": items}


def _content(args: Args, *, required: bool = True) -> tuple[str | None, list[JSON] | None, list[JSON] | None]:
    text = args.text("text")
    if text is None:
        text = args.text("markdown_text")
    blocks = args.structure("blocks", "invalid_blocks_format")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise SlackApiFailure("invalid_blocks_format")
        errors = block_errors(blocks, "/blocks", 50)
        if errors:
            raise SlackApiFailure("invalid_blocks", errors=errors, response_metadata={"messages": errors})
    attachments = args.structure("attachments", "invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackApiFailure("invalid_attachments")
    if required and not text and not blocks and not attachments:
        raise SlackApiFailure("no_text")
    if text and len(text) > 40_000:
        raise SlackApiFailure("msg_too_long")
    return text, blocks, attachments


def _metadata(args: Args) -> JSON | None:
    metadata = args.structure("metadata", "invalid_metadata_format")
    if metadata is None or metadata == {}:
        return None
    if (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)):
        raise SlackApiFailure("invalid_metadata_format")
    return metadata


METHODS: dict[str, WebApiMethod] = {
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "pins.add": pins_add,
    "pins.list": pins_list,
}
