"""When a resolved incident's channel is archived: `channels.archive_after` (e.g. "7d", "36h", "never") after its
resolution. Only resolved incidents with a channel of their own are; a reopened incident is open again and its
channel is left alone. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.archive_delay import NEVER as NEVER
from bot.domain.archive_delay import archive_delay as archive_delay
from bot.domain.incident import Incident, Status


def archive_due(incident: Incident, now: datetime, delay: timedelta | None) -> bool:
    """Whether the incident's channel should be archived at `now`."""
    return (delay is not None and incident.status is Status.RESOLVED and incident.resolved_at is not None
            and incident.dedicated_channel and incident.channel_requested and now - incident.resolved_at >= delay)
