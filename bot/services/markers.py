"""How the bot finds its own Slack messages again: a marker in the message's metadata, looked for before posting
again after an attempt that may have posted (see `Chat.find_posted`)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.ports import Chat, PostedMessage

# How far back a retried post looks for the message an earlier attempt may have posted.
LOOKBACK_SECONDS = 900


def marker_metadata(marker: str, **more: str) -> dict[str, object]:
    return {"event_type": "pavedroad_posted", "event_payload": {"marker": marker, **more}}


async def find_posted_in(chat: Chat, channels: Sequence[str], marker: str,
                         since: float) -> tuple[str, PostedMessage] | None:
    """The message with `marker` an earlier attempt posted, looked for in each of `channels` in turn (a post that may
    have gone to one or another: a team's channel, or the default one it fell back to while the team's was not
    found), with the channel as it was named; None when none has it."""
    for channel in channels:
        if (posted := await chat.find_posted(channel, marker, since)) is not None:
            return channel, posted
    return None
