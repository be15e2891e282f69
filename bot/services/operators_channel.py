"""Where the operators' alerts go: their channel (`channels.operators_channel`). One Slack cannot find for the bot —
renamed in Slack while the catalogue names the old name, archived, private without the bot — would lose every alert,
said in the log only (an alert about an alert is not sent): the alert goes to the default announce channel then,
saying why and what to fix."""

from __future__ import annotations

import logging

from bot.catalogue import ChannelPolicy
from bot.errors import IntegrationError
from bot.ports import CANNOT_POST_THERE, Chat
from bot.render.card import name_text

log = logging.getLogger(__name__)


async def alert_operators(chat: Chat, channels: ChannelPolicy, text: str) -> None:
    operators, default = channels.operators_channel.lstrip("#"), channels.default_announce_channel.lstrip("#")
    try:
        await chat.post_message(channels.operators_channel, text)
    except IntegrationError as error:
        if error.code not in CANNOT_POST_THERE or default == operators:
            raise
        log.error("the operators' channel #%s cannot be posted in (%s): set channels.operators_channel in the "
                  "catalogue; this alert goes to #%s", operators, error.code, default)
        await chat.post_message(channels.default_announce_channel, (
            f"{text}\n_(Posted here: Slack finds no operators' channel #{name_text(operators)} the bot can post in "
            f"(`{error.code}`). Set `channels.operators_channel` in the catalogue to its name now, or "
            "`/invite @pavedroad` into it.)_"))
