"""Where the operators' alerts go: their channel (`channels.operators_channel`). One Slack cannot find for the bot —
renamed in Slack while the catalogue names the old name, archived, private without the bot — would lose every alert,
said in the log only (an alert about an alert is not sent): the alert goes to the default announce channel then,
saying why and what to fix.

Alerts of one cause (`AlertOperators.group`: a dead effect's service and error) go in one thread: the first is posted
in the channel, saying so, and the next ones within `GROUP_SECONDS` of it as replies under it, each whole (its
incident, its error). Forty incidents' tickets refused by one ServiceNow ACL at 3 a.m. are one alert to read and a
thread to go through, not forty in the channel; a new hour's trouble starts a new alert. The bot finds the first one
again by its metadata (`Chat.find_posted`): in a channel it may post in but not read, every alert is its own."""

from __future__ import annotations

import hashlib
import logging

from bot.catalogue import ChannelPolicy
from bot.domain.effects import AlertOperators
from bot.errors import IntegrationError
from bot.ports import CANNOT_POST_THERE, Chat
from bot.render.card import name_text
from bot.services.markers import marker_metadata

log = logging.getLogger(__name__)

# How long after an alert later ones of its cause go in its thread.
GROUP_SECONDS = 3600.0
THREAD_NOTE = "_Alerts of the same cause in the next hour go in this thread._"


async def alert_operators(chat: Chat, channels: ChannelPolicy, alert: AlertOperators, *, now: float,
                          retry: bool = False) -> None:
    """Post `alert` in the operators' channel (in its group's thread, if it has one there), else in the default
    announce channel as the module says. `retry`: an earlier attempt may have posted it (its answer lost): looked for
    first, not posted twice."""
    operators, default = channels.operators_channel.lstrip("#"), channels.default_announce_channel.lstrip("#")
    try:
        await _post(chat, channels.operators_channel, alert.text, alert.group, now, retry)
    except IntegrationError as error:
        if error.code not in CANNOT_POST_THERE or default == operators:
            raise
        log.error("the operators' channel #%s cannot be posted in (%s): set channels.operators_channel in the "
                  "catalogue; this alert goes to #%s", operators, error.code, default)
        await _post(chat, channels.default_announce_channel, (
            f"{alert.text}\n_(Posted here: Slack finds no operators' channel #{name_text(operators)} the bot can post "
            f"in (`{error.code}`). Set `channels.operators_channel` in the catalogue to its name now, or "
            "`/invite @pavedroad` into it.)_"), alert.group, now, retry)


async def _post(chat: Chat, channel: str, text: str, group: str, now: float, retry: bool) -> None:
    if not group:
        await chat.post_message(channel, text)
        return
    marker = f"alert:{group}"
    first = await chat.find_posted(channel, marker, now - GROUP_SECONDS)
    if first is None:
        await chat.post_message(channel, f"{text}\n{THREAD_NOTE}", metadata=marker_metadata(marker))
        return
    # Each reply carries its own marker (its text's digest), which a retry looks for under the first alert.
    reply = f"{marker}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if retry and (await _is_this_alert(chat, first.channel, first.ts, text)
                  or await chat.find_posted(channel, reply, now - GROUP_SECONDS, thread_ts=first.ts) is not None):
        return
    await chat.post_message(first.channel, text, thread_ts=first.ts, metadata=marker_metadata(reply))


async def _is_this_alert(chat: Chat, channel: str, ts: str, text: str) -> bool:
    """Whether the group's first alert is this very one (posted by an attempt whose answer was lost)."""
    message = await chat.message(channel, ts)
    return message is not None and message.text.startswith(text)
