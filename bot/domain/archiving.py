"""When a resolved incident's channel is archived: `channels.archive_after` (e.g. "7d", "36h", "never") after its
resolution. Only resolved incidents with a channel of their own are; a reopened incident is open again and its
channel is left alone. Pure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.domain.incident import Incident, Status

NEVER = "never"
_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|days?|h|hours?|m|min|mins|minutes?)\s*$")


def archive_delay(text: str) -> timedelta | None:
    """The delay `text` names, None for "never"; ValueError (saying how to write it) otherwise."""
    if text.strip().lower() == NEVER:
        return None
    match = _PERIOD.match(text.lower())
    if not match or float(match[1]) <= 0:
        raise ValueError(f"cannot read {text!r}: write a delay like '7d', '36h' or '90m', or 'never'")
    unit = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}[match[2][0]]
    return unit * float(match[1])


def archive_due(incident: Incident, now: datetime, delay: timedelta | None) -> bool:
    """Whether the incident's channel should be archived at `now`."""
    return (delay is not None and incident.status is Status.RESOLVED and incident.resolved_at is not None
            and incident.dedicated_channel and incident.channel_requested and now - incident.resolved_at >= delay)
