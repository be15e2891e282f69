"""Key messages and follow-ups: what people add to an incident's record from Slack, recorded in the inbox first
(bot/domain/contributions.py says why) and applied by the worker with the incident's other events.

A key message is a person's message in an incident channel marked with the catalogue's `timeline.reaction`. The
reaction event does not carry the message, and Slack may not give it back at that moment (rate-limited, slow, a
5xx), after the event is acknowledged (Slack will not send it again): so the mark is recorded at once, and the
message is read back by an outbox effect (`ReadKeyMessage`, performed here for the executor) with the dispatcher's
retries, Retry-After and Slack's pacing, across restarts and replicas; read, it is attributed to its author by name
and recorded as the key message. A reaction anywhere else (a team channel, another reaction) changes nothing, and a
message that turns out to be a bot's, deleted, or in a channel the bot has left ends its read (logged).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.contributions import Contribution, FollowUpAdded, KeyMessage, KeyMessageMarked
from bot.domain.effects.slack import ReadKeyMessage
from bot.domain.follow_ups import named_owner
from bot.domain.incident import Incident
from bot.errors import UserError
from bot.ports import Chat, Clock
from bot.ports.store import Inbox, Incidents, SlackFootprints
from bot.services.slack_inbox import record_from_slack
from bot.services.slack_text import SlackText

log = logging.getLogger(__name__)
FOLLOW_UP_USAGE = ("What is the follow-up? `/incident followup <what needs doing> [@owner]`, e.g. `/incident "
                   "followup add an alert on checkout error rate @ben`.")


class ContributionStore(Inbox, Incidents, SlackFootprints, Protocol):
    """What recording contributions needs of the store: the inbox, the incidents, which channel is whose."""


class Contributions:
    def __init__(self, store: ContributionStore, chat: Chat, catalogue: Catalogue, clock: Clock,
                 on_recorded: Callable[[], None]) -> None:
        self._store, self._chat, self._catalogue, self._clock = store, chat, catalogue, clock
        self._on_recorded = on_recorded
        # Both reach the ServiceNow ticket as work notes: the people they mention by name, and a name Slack does not
        # give is never a reason to lose one (bot/services/slack_text.py).
        self._slack_text = SlackText(chat)

    async def reaction_added(self, *, user: str, reaction: str, channel: str, ts: str) -> bool:
        """A reaction someone added to a message; True when it marked the message as a key message (now or before:
        a second 📌 on the same message is the same key message). Only the mark is recorded here: the message is
        read by `read_key_message`, retried until Slack gives it."""
        if reaction != self._catalogue.timeline.reaction or not channel or not ts or not user:
            return False
        footprint = await self._store.footprint_by_channel(channel)
        if footprint is None or footprint.shared_channel:
            return False  # not an incident's own channel
        await self._record(KeyMessageMarked(footprint.incident_id, channel, ts, user))
        return True

    async def read_key_message(self, effect: ReadKeyMessage) -> None:
        """Read the marked message and record it as a key message, with its author's and marker's names. Slack
        refusing or failing the read raises IntegrationError (the dispatcher retries it); a message gone, in a
        channel the bot has left, or not a person's ends here. Recorded again by a retry, it is one inbox row."""
        incident = await self._store.incident(effect.incident_id)
        if incident is None:
            return
        message = await self._chat.message(effect.channel, effect.ts)
        if message is None or not message.by_person or not message.user:
            why = "gone, or out of the bot's reach" if message is None else "not a person's"
            log.info("incident %s: the message %s marked in %s is %s; it is not a key message", incident.id,
                     effect.ts, effect.channel, why)
            return
        # Names are a nicety (a name Slack will not give falls back on the id), asked for together: a slow Slack
        # holds the key message up once, not once per name.
        author, marked_by, text = await asyncio.gather(
            self._slack_text.name(message.user), self._slack_text.name(effect.marked_by),
            self._slack_text.readable(message.text))
        await self._record(KeyMessage(incident.id, effect.channel, effect.ts, author or message.user, text.strip(),
                                      marked_by or effect.marked_by, marked_by_id=effect.marked_by))

    async def follow_up(self, *, user: str, user_name: str, incident: Incident, text: str) -> str:
        """Record `/incident followup <text> [@owner]`; what to tell the person."""
        named = named_owner(text)
        owner_id = named.owner_id
        # Together, as for a key message: the person waits for their answer once, however slow Slack is.
        owner_looked_up, readable, added_by = await asyncio.gather(
            self._slack_text.name(owner_id) if owner_id else _nothing(), self._slack_text.readable(named.text),
            self._slack_text.name(user))
        owner_name, text = owner_looked_up or named.owner_name, readable.strip()
        if not text:
            raise UserError(FOLLOW_UP_USAGE)
        added_by = added_by or user_name or user
        await self._record(FollowUpAdded(incident.id, uuid.uuid4().hex, text, added_by, self._clock.now(), owner_id,
                                         owner_name, added_by_id=user, incident_number=incident.number))
        owner = f" (owner: <@{owner_id}>)" if owner_id else f" (owner: {_plain(owner_name)})" if owner_name else ""
        return (f"📋 Follow-up recorded for #{incident.number}{owner}: {_plain(text)}. It goes into the review and "
                "onto the ServiceNow ticket; `/incident followups` lists them.")

    async def _record(self, event: Contribution) -> None:
        stored = await record_from_slack(self._store, event, self._clock.now())
        if stored:
            self._on_recorded()


async def _nothing() -> str | None:
    return None


def _plain(text: str | None) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
