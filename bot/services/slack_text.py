"""What someone typed in Slack, made readable for PagerDuty and ServiceNow, whose readers are not in Slack: each person
mentioned by their Slack name (`@Chloe Martin`, not `<@U0123|chloe.martin>` nor `@U0123`). The text's markup is
bot/domain/slack_text.py's; this finds the names.

Names come from Slack's users.info through the Chat adapter, which keeps each answer a few minutes and shares one
call between those asking at once (bot/adapters/slack/users.py): a responder mentioned in every note is asked for
once. A name is a nicety, never a reason for the note not to go: a lookup Slack refuses, rate-limits or does not
answer within `NAME_LOOKUP_SECONDS` leaves that mention as Slack sent it (`@` and the label Slack gave, else the id),
and `name` (who wrote a key message, who owns a follow-up) says None for the caller to fall back on what it has.
"""

from __future__ import annotations

import asyncio
import logging

from bot.domain.slack_text import mentioned_users, readable
from bot.errors import IntegrationError
from bot.ports import Chat

log = logging.getLogger(__name__)
# How long the names may hold up a note: the person waits for their answer, and PagerDuty for the note.
NAME_LOOKUP_SECONDS = 3.0
# Looked up in one text at most (a pasted channel member list must not become hundreds of users.info calls).
MOST_NAMES = 20
# A name as PagerDuty's and ServiceNow's readers see it: Slack's real names are far shorter; a longer one is cut.
NAME_CHARS = 80


class SlackText:
    def __init__(self, chat: Chat, *, within: float = NAME_LOOKUP_SECONDS) -> None:
        self._chat, self._within = chat, within

    async def readable(self, slack_text: str) -> str:
        """`slack_text` (as Slack sent it) as plain text, with the names of the people it mentions."""
        wanted = mentioned_users(slack_text)[:MOST_NAMES]
        if not wanted:
            return readable(slack_text)
        lookups = {user: asyncio.ensure_future(self._name(user)) for user in wanted}
        try:
            await asyncio.wait(lookups.values(), timeout=self._within)
        finally:
            # A lookup still under way is given up: Slack's answer still reaches the adapter's cache (its call is
            # shielded there), for the next text that mentions the person.
            for lookup in lookups.values():
                lookup.cancel()
        names = {user: name for user, lookup in lookups.items()
                 if lookup.done() and not lookup.cancelled() and (name := lookup.result())}
        return readable(slack_text, names)

    async def name(self, user: str) -> str | None:
        """The person's Slack name (one line, short), or None when Slack does not give it: no such user, the lookup
        refused, rate-limited, failing or later than `within` (its caller falls back on what it has)."""
        try:
            return await asyncio.wait_for(self._name(user), self._within)
        except TimeoutError:
            return None

    async def _name(self, user: str) -> str | None:
        try:
            name = await self._chat.user_name(user)
        except IntegrationError as error:  # rate-limited, unreachable, refused: the mention stays as Slack sent it
            log.info("no Slack name for a mention (%s): shown as Slack sent it", error.code or error.status)
            return None
        except Exception:  # the last guard: a name is never worth the note
            log.exception("looking up a mentioned Slack user's name failed")
            return None
        # One line, and short: a name is put into the text as it is.
        return " ".join((name or "").split())[:NAME_CHARS].strip() or None
