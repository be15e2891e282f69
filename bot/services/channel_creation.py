"""Creating an incident's own channel, converging when replayed: named by the catalogue's pattern; on `name_taken`
the channel is reused if it is ours for this incident (an earlier attempt's, whose answer was lost), else the name
is suffixed (`-2`, `-3`, …) up to MAX_NAME_ATTEMPTS, then — all taken — suffixed with the incident's PagerDuty id,
a name no other incident's can be (a pattern without `{number}`, `inc-{service}`, meets archived channels keeping
their names, and in a storm a service's open incidents: the eleventh had no channel at all). A name taken by this
incident's own archived channel is how a reopened incident's new channel learns where its earlier story is.

"Ours for this incident": made by the bot, with a topic naming the incident — or no topic yet (an attempt that made
the channel and was cut short before setting it), but only where the name itself is the incident's (the pattern has
`{number}` or `{id}`). A pattern without either (`inc-{slug}`, `inc-{service}`) names two incidents alike: the
channel another incident's opening made a moment ago, its topic not yet set, is not taken for this one's.

An attempt whose answer from conversations.create was lost (Slack made the channel) and whose channel people renamed
before the retry: the names the retry tries are free again, and it would make the incident a second channel. A retry
first looks for a channel once called one of them (Slack keeps a channel's `previous_names`) that is ours by the same
rule (with `inc-{slug}`, such a channel with no topic yet may be another incident's: not taken, a second is made).
That look lists every live channel (in a workspace of 20,000, twenty conversations.list calls at Tier 2's 20 a minute),
so only a retry of an opening whose conversations.create went out and got no clear answer pays for it: a timeout, a
dropped connection, a 500/502/504 (IntegrationError.outcome_unknown), or Slack's own internal_error/fatal_error (its
docs: some of it may have been done). Such a failure leaves a mark in the store, kept a day, before it is raised; a
429, a refusal (name_taken, restricted_action, …), a 503 or a connection never made leave none: Slack made nothing.
An attempt cut short mid-call never hears its answer either: one cancelled (a deploy's stop) leaves the mark as it
goes (a store write carried through the cancellation); one that never recorded how it ended (its process killed, or
stalled past its lease and taken over: the dispatcher's `EffectHolder.cut_short`) could not, and its retry looks too."""

from __future__ import annotations

import asyncio
import logging
import re

from bot.domain.incident import Incident
from bot.domain.naming import MAX_NAME_ATTEMPTS, channel_name, names_to_try
from bot.errors import IntegrationError
from bot.ports import ChannelInfo, Chat, Clock
from bot.ports.store import Deduplication
from bot.services.bookkeeping import holding
from bot.services.outlasting import carried_through

log = logging.getLogger(__name__)
# A pattern field that makes a channel's name one incident's own (its PagerDuty number or id).
_OWN_NAME = re.compile(r"{(?:number|id)[}:!]")
# How long an opening's lost answer from conversations.create is remembered: its retries come within minutes, an outage
# of Slack's lasts hours at most.
CREATE_UNKNOWN_SECONDS = 86_400.0
# Slack's ok:false codes after which, its docs say, "some aspect of the operation" may have succeeded.
_MAYBE_DONE = frozenset({"internal_error", "fatal_error"})
# How long a stop waits for the mark of a conversations.create it cut short (a store that does not answer must not
# hang the stop: the retry then looks by today's names only).
MARK_ON_STOP_SECONDS = 5.0


def create_unknown_key(incident_id: str) -> str:
    """The store's mark of an opening whose conversations.create may have made a channel it never heard of."""
    return f"slack:create-unknown:{incident_id}"


async def ensure_channel(chat: Chat, marks: Deduplication, clock: Clock, pattern: str, incident: Incident,
                         archived: list[str] | None = None, *, retry: bool = False) -> ChannelInfo:
    """Create the channel; on name_taken reuse it if it is ours for this incident, else try a suffix. `archived`
    collects the ids of this incident's own channels met archived on the way, the latest last (the incident
    reopened after the bot archived its channel: the new one says where the earlier story is). `retry`: an earlier
    attempt may have made the channel, and people renamed it since — looked for only where `marks` says an earlier
    attempt's conversations.create went unanswered (see the module's docstring)."""
    base = channel_name(pattern, number=incident.number, title=incident.title, service=incident.service_name,
                        incident_id=incident.id)
    names = names_to_try(base, incident.id, incident.number)
    own_name = _OWN_NAME.search(pattern) is not None
    unknown = create_unknown_key(incident.id)
    # One listing, only after a create that went unanswered (or an attempt that never said how it ended): the first
    # attempt, and a retry after a 429, pay nothing.
    cut_short = (holder := holding()) is not None and holder.cut_short
    if retry and (cut_short or await marks.still_seen([unknown], clock.now().timestamp())):
        bot_user = await chat.bot_user_id()
        for renamed in await chat.channels_formerly_named(names):
            tried = [i for i, name in enumerate(names) if name in renamed.previous_names]
            if _is_ours(renamed, incident, bot_user, own_name or MAX_NAME_ATTEMPTS in tried):
                log.info("reusing channel %s (renamed) for incident %s", renamed.name, incident.id)
                return renamed
    for attempt, name in enumerate(names):
        if attempt == MAX_NAME_ATTEMPTS:  # the last: a name this incident's alone
            own_name = True
        try:
            return await chat.create_channel(name)
        except asyncio.CancelledError:  # stopped mid-call: Slack may have made the channel, unheard
            await carried_through(_mark_unknown(marks, clock, unknown, "cancelled mid-call"), MARK_ON_STOP_SECONDS)
            raise
        except IntegrationError as error:
            if error.outcome_unknown or error.code in _MAYBE_DONE:
                await _mark_unknown(marks, clock, unknown, error)
            if error.code != "name_taken":
                raise
        existing = await chat.find_channel(name)
        if existing and _is_ours(existing, incident, await chat.bot_user_id(), own_name):
            log.info("reusing channel %s for incident %s", existing.name, incident.id)
            return existing
        if existing and archived is not None and _was_ours(existing, incident, await chat.bot_user_id()):
            archived.append(existing.id)
    raise IntegrationError("slack", f"no free channel name after {len(names)} tries from {base!r}",
                           retryable=False, code="name_taken")


async def _mark_unknown(marks: Deduplication, clock: Clock, key: str, error: IntegrationError | str) -> None:
    """Slack may have made the channel: its retry is to look for it by its earlier names."""
    try:
        await marks.remember(key, CREATE_UNKNOWN_SECONDS, clock.now().timestamp())
    except Exception:  # Slack's failure is what the dispatcher must hear (the retry then looks by today's names only)
        log.warning("%s: not marked (%s): a retry will not look for a renamed channel", key, error, exc_info=True)


def _is_ours(channel: ChannelInfo, incident: Incident, bot_user: str, own_name: bool) -> bool:
    """`own_name`: the channel's name is this incident's alone (see the module's docstring)."""
    if channel.is_archived or channel.creator != bot_user:
        return False
    if not channel.topic:
        return own_name
    return incident.id in channel.topic or incident.html_url in channel.topic


def _was_ours(channel: ChannelInfo, incident: Incident, bot_user: str) -> bool:
    """An archived channel of this incident's (its topic names the incident: the bot sets it as it opens one)."""
    return (channel.is_archived and channel.creator == bot_user and bool(channel.topic)
            and (incident.id in channel.topic or incident.html_url in channel.topic))
