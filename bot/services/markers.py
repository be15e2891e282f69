"""How the bot finds its own Slack messages again: a marker in the message's metadata, looked for before posting
again after an attempt that may have posted (see `Chat.find_posted`)."""

from __future__ import annotations

# How far back a retried post looks for the message an earlier attempt may have posted.
LOOKBACK_SECONDS = 900


def marker_metadata(marker: str) -> dict[str, object]:
    return {"event_type": "pavedroad_posted", "event_payload": {"marker": marker}}
