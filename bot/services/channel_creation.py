"""Creating an incident's own channel, converging when replayed: named by the catalogue's pattern; on `name_taken`
the channel is reused if it is ours for this incident (an earlier attempt's, whose answer was lost), else the name
is suffixed (`-2`, `-3`, …) up to MAX_NAME_ATTEMPTS. A name taken by this incident's own archived channel is how a
reopened incident's new channel learns where its earlier story is."""

from __future__ import annotations

import logging

from bot.domain.incident import Incident
from bot.domain.naming import channel_name, with_suffix
from bot.errors import IntegrationError
from bot.ports import ChannelInfo, Chat

log = logging.getLogger(__name__)
MAX_NAME_ATTEMPTS = 10


async def ensure_channel(chat: Chat, pattern: str, incident: Incident,
                         archived: list[str] | None = None) -> ChannelInfo:
    """Create the channel; on name_taken reuse it if it is ours for this incident, else try a suffix. `archived`
    collects the ids of this incident's own channels met archived on the way, the latest last (the incident
    reopened after the bot archived its channel: the new one says where the earlier story is)."""
    base = channel_name(pattern, number=incident.number, title=incident.title, service=incident.service_name,
                        incident_id=incident.id)
    for attempt in range(MAX_NAME_ATTEMPTS):
        name = base if attempt == 0 else with_suffix(base, attempt)
        try:
            return await chat.create_channel(name)
        except IntegrationError as error:
            if error.code != "name_taken":
                raise
        existing = await chat.find_channel(name)
        if existing and _is_ours(existing, incident, await chat.bot_user_id()):
            log.info("reusing channel %s for incident %s", existing.name, incident.id)
            return existing
        if existing and archived is not None and _was_ours(existing, incident, await chat.bot_user_id()):
            archived.append(existing.id)
    raise IntegrationError("slack", f"no free channel name after {MAX_NAME_ATTEMPTS} tries from {base!r}",
                           retryable=False, code="name_taken")


def _is_ours(channel: ChannelInfo, incident: Incident, bot_user: str) -> bool:
    return (not channel.is_archived and channel.creator == bot_user
            and (not channel.topic or incident.id in channel.topic or incident.html_url in channel.topic))


def _was_ours(channel: ChannelInfo, incident: Incident, bot_user: str) -> bool:
    """An archived channel of this incident's (its topic names the incident: the bot sets it as it opens one)."""
    return (channel.is_archived and channel.creator == bot_user and bool(channel.topic)
            and (incident.id in channel.topic or incident.html_url in channel.topic))
