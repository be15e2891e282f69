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
from bot.ports import CANNOT_POST_THERE, Chat, PostedMessage
from bot.render.card import name_text
from bot.services.markers import marker_metadata

log = logging.getLogger(__name__)

# How long after an alert later ones of its cause go in its thread.
GROUP_SECONDS = 3600.0
THREAD_NOTE = "_Alerts of the same cause in the next hour go in this thread._"


async def alert_operators(chat: Chat, channels: ChannelPolicy, alert: AlertOperators, *, created_at: float,
                          retry: bool = False) -> None:
    """Post `alert` in the operators' channel (in the thread of its group's alert of the hour before it was queued,
    if there is one), else in the default announce channel as the module says. `retry`: an earlier attempt may have
    posted it (its answer lost): looked for first, not posted twice. `created_at`: when the alert was queued — with
    its text, what tells it from another of the same words (two syncs of one ticket refused alike)."""
    operators, default = channels.operators_channel.lstrip("#"), channels.default_announce_channel.lstrip("#")
    posting = _Posting(chat, alert, created_at, retry)
    try:
        await posting.post(channels.operators_channel, alert.text)
    except IntegrationError as error:
        if error.code not in CANNOT_POST_THERE or default == operators:
            raise
        log.error("the operators' channel #%s cannot be posted in (%s): set channels.operators_channel in the "
                  "catalogue; this alert goes to #%s", operators, error.code, default)
        await posting.post(channels.default_announce_channel, (
            f"{alert.text}\n_(Posted here: Slack finds no operators' channel #{name_text(operators)} the bot can post "
            f"in (`{error.code}`). Set `channels.operators_channel` in the catalogue to its name now, or "
            "`/invite @pavedroad` into it.)_"))


class _Posting:
    """One alert's post in a channel: alone; or the first of its group, saying so; or a reply under that one."""

    def __init__(self, chat: Chat, alert: AlertOperators, created_at: float, retry: bool) -> None:
        self._chat, self._group, self._since, self._retry = chat, alert.group, created_at - GROUP_SECONDS, retry
        self._marker = f"alert:{self._group}"
        # The alert's own marker, on whichever message it becomes: what a retry looks for.
        self._own = f"{self._marker}:{hashlib.sha256(f'{created_at!r} {alert.text}'.encode()).hexdigest()[:16]}"

    async def post(self, channel: str, text: str) -> None:
        if not self._group:
            await self._chat.post_message(channel, text)
            return
        first = await self._chat.find_posted(channel, self._marker, self._since, key="group")
        if self._retry and await self._posted_before(channel, first):
            return
        if first is not None:
            try:
                await self._chat.post_message(first.channel, text, thread_ts=first.ts,
                                              metadata=marker_metadata(self._own))
                return
            except IntegrationError as error:
                # That thread takes no replies (cannot_reply_to_message; its alert deleted meanwhile): one message's
                # refusal, not the channel's — this alert starts a new thread in the same channel.
                if error.code not in CANNOT_POST_THERE:
                    raise
                log.info("the operators' alert thread %s takes no replies (%s): a new one", first.ts, error.code)
        await self._chat.post_message(channel, f"{text}\n{THREAD_NOTE}",
                                      metadata=marker_metadata(self._own, group=self._marker))

    async def _posted_before(self, channel: str, first: PostedMessage | None) -> bool:
        """Whether an earlier attempt posted this alert: as the group's first, or under it."""
        if first is not None and await self._chat.find_posted(channel, self._own, self._since,
                                                               thread_ts=first.ts) is not None:
            return True
        return await self._chat.find_posted(channel, self._own, self._since) is not None
