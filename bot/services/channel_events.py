"""What people do to an incident's own channel in Slack that the bot must take into account, as Slack's Events API
tells it (app_manifest.yml subscribes to each). Each event is recorded in the store *before* its ack — only the store
is asked then (commands/listeners.py `_recorded_before_ack`): a store refusing it answers 500 and Slack sends the event
again, while an event acknowledged first and failing after (Slack or the store) was lost, as Slack resends only a
delivery it was not answered 200 for. What Slack must be asked is an outbox effect, performed here for the executor
(`learn_from_slack`), retried by the dispatcher across restarts and replicas however long Slack fails; each
converges when performed again, and reads the channel as Slack has it when it runs, not as the event said:

- `member_joined_channel` for the bot's own user: someone invited it back into a channel it had been removed from
  (`bot_removed`, remembered by bot/services/archived_channels.py when Slack answered `not_in_channel`): recorded as
  `LearnBotBack`. Whether it is back is asked of Slack (conversations.info), not taken from the event: Slack retries
  an event whose delivery failed, up to an hour later, and a retry of the bot's own join when it made the channel,
  arriving after its removal, let go of the flag (a refused topic call, and the channel told a second time that day).
  Back, the card is refreshed, which sets the topic Slack refused meanwhile (no topic call is spent while the bot is
  out), and the channel is told again should the bot be removed again. Anyone else joining changes nothing, and is
  not even looked up.
- `pin_removed` of the incident's card (while the incident is open): someone unpinned it. The card is remembered as
  unpinned and refreshed (both store writes, before the ack), and the refresh pins it again — once: the bot's own pin
  is `pin_added`, no event here, so nothing loops.
- `channel_rename` (`group_rename` once a workspace admin made the channel private): recorded as `LearnChannelName`,
  which asks Slack for the channel's name now (a retried event may come after a later rename's) and saves it when it
  differs, for what names the channel by name (the ticket's `Slack: #…` line and close notes: bot/services/
  ticket_closing.py), the ticket told. A rename recorded before the channel's opening saved it (no incident names the
  channel yet) is marked (`renamed_key`), and the opening asks Slack for the name once it has saved the channel
  (`remember_opened_channel`) rather than keep the name it made the channel with.

Each is about the incident's own channel only: a team channel holds many incidents' cards, unpinned. What an effect
learns of that channel is recorded only while the incident is still in it (bookkeeping.py `remember_of_channel`): its
`slack:` queue, alongside, may move it to a new channel (its own archived) while Slack is asked about the old one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from bot.domain.effects import Effect
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import LearnBotBack, LearnChannelName, RefreshCard
from bot.domain.incident import Incident, Status
from bot.ports import ChannelInfo, Chat, Clock
from bot.ports.store import Deduplication, Incidents, Outbox, SlackFootprint, SlackFootprints
from bot.services.bookkeeping import remember_footprint, remember_of_channel

log = logging.getLogger(__name__)


class ChannelEventStore(SlackFootprints, Incidents, Outbox, Deduplication, Protocol):
    """Which channel is whose, the incident, the outbox (the effects that ask Slack, the card's refresh) and the marks
    of channels renamed before an opening saved them."""


def removed_told_key(channel_id: str) -> str:
    """The Deduplication key under which the channel was told the bot had been removed (once a day)."""
    return f"slack:removed:{channel_id}"


def renamed_key(channel_id: str) -> str:
    """The Deduplication key marking a channel renamed while no incident named it (its opening had not saved it)."""
    return f"slack:renamed:{channel_id}"


# How long such a mark is looked at: an opening saves its channel within its attempt, or a retry of it (the outbox's,
# within the hour) finds the channel again.
RENAMED_MARK_SECONDS = 86_400.0


class OpenedChannelStore(SlackFootprints, Deduplication, Outbox, Protocol):
    """The incident's footprint, the marks of channels renamed before an opening saved them, and the ticket's sync."""


async def remember_opened_channel(store: OpenedChannelStore, chat: Chat, clock: Clock, incident_id: str,
                                  channel: ChannelInfo, *, tickets: bool = False) -> None:
    """The opening saves the incident's own channel (at once: the ticket's sync reads it). Renamed before that — its
    `channel_rename` handled while no incident named the channel, which left a mark (`ChannelEvents.renamed`) — its
    name now is asked of Slack: the name the bot made it with is gone from Slack. Saved before the mark is looked at,
    as the event's handler marks before it looks again: one of the two sees the other. `tickets`: ServiceNow's sync
    is on, and the ticket, opened meanwhile with the name the bot made the channel with, is told the rename as after
    one (found in review: a retried opening that found its channel by an earlier name left the ticket naming that).

    A channel with earlier names (found by one of them: bot/services/channel_creation.py) is saved as it is called
    now, which the ticket, opened meanwhile with the made name, was never told: it is marked here, before it is saved,
    whether or not the rename's event marked it — that event handled after the save finds the incident naming the
    channel so already, and tells nothing (found as a flaky test: the event was handled alongside the retry, or came
    after it); marked before the save, a retry after a failure in between finds the mark too."""
    if channel.previous_names:
        await store.remember(renamed_key(channel.id), RENAMED_MARK_SECONDS, clock.now().timestamp())
    await remember_footprint(store, incident_id, at_once=True, channel_id=channel.id, channel_name=channel.name)
    await renamed_as_it_opened(store, chat, clock, SlackFootprint(incident_id, channel.id, channel.name),
                               tickets=tickets)


async def renamed_as_it_opened(store: OpenedChannelStore, chat: Chat, clock: Clock, saved: SlackFootprint, *,
                               tickets: bool = False) -> None:
    """A rename's mark on the saved channel looked at: its name read, saved, the ticket told — and then the mark let
    go, not before. A retried opening finding its channel saved looks again (channel_opening.py): found in review, Slack
    failing this read left the made name, the ticket never told (a later rename's event finds the channel saved,
    and needs no mark)."""
    incident_id, channel_id, saved_name = saved.incident_id, saved.channel_id, saved.channel_name
    if channel_id is None or not await store.still_seen([renamed_key(channel_id)], clock.now().timestamp()):
        return
    now = await chat.channel(channel_id)
    if now is not None and now.name != saved_name:
        log.info("incident %s: its channel %s was renamed #%s as it opened (was #%s)", incident_id, channel_id,
                 now.name, saved_name)
        await remember_footprint(store, incident_id, at_once=True, channel_name=now.name)
    if tickets:  # once the name is saved (the sync compares the ticket's line with it: nothing written when alike)
        await store.queue_effect(SyncTicket(incident_id, channel_renamed=True), clock.now().timestamp())
    await store.forget(renamed_key(channel_id))


class ChannelEvents:
    """The events recorded before their ack (commands/listeners.py): store calls only, each safe to repeat — Slack
    sends an event again after a 500, and a retry is recorded as the first delivery was (they take no once-per-event
    claim)."""

    def __init__(self, store: ChannelEventStore, clock: Clock, wake: Callable[[], None]) -> None:
        # Whether ServiceNow's sync is on is the effect's executor's to know (`learn_from_slack` tells the ticket).
        # No Chat: nothing here asks Slack, not even who the bot is (`bot_user`, as Bolt knows it).
        self._store, self._clock, self._wake = store, clock, wake

    async def member_joined(self, *, user: str, channel: str, bot_user: str | None) -> None:
        """`user` joined `channel`: when it is the bot (`bot_user`, as Bolt knows it), removed from that incident's
        channel, whether it is back is asked of Slack by an effect (`LearnBotBack`). Bolt not knowing the bot's user
        (auth.test not answered since the start, and the event naming no bot installation: bot/adapters/slack/
        identity.py), the join is taken for someone else's rather than auth.test asked before the ack: the bot back,
        the next topic to set asks Slack whether it is (archived_channels.py `still_removed`)."""
        if not user or not channel:
            return
        if bot_user is None:
            log.debug("a join to %s by %s: the bot's own user is not known yet, so it is taken for someone else's",
                      channel, user)
            return
        if user != bot_user:
            return
        footprint = await self._store.footprint_by_channel(channel)
        if footprint is None or not footprint.bot_removed:  # (the bot's join as it makes a channel: one read)
            return
        found = await self._own(footprint)
        if found is not None:
            await self._queue(LearnBotBack(found[0].id, channel))

    async def pin_removed(self, *, user: str, channel: str, ts: str, bot_user: str | None) -> None:
        """Someone unpinned message `ts` in `channel`: the open incident's card there is pinned again. An unpin by a
        user Bolt does not know for the bot's (`bot_user` None) is someone's: the bot never unpins its cards."""
        if not channel or not ts or user == bot_user:
            return
        footprint = await self._store.footprint_by_channel(channel)
        if footprint is None or footprint.card_ts != ts:  # (another message's pin: one read)
            return
        found = await self._own(footprint)
        if found is None or found[0].status is Status.RESOLVED:
            return
        incident = found[0]
        log.info("incident %s: its card was unpinned in Slack (by %s); pinning it again", incident.id, user)
        # The refresh's queueing refused (answered 500), Slack's resend writes this again, the same; every resend
        # refused, any later refresh pins it (the card's, every few minutes): the footprint says unpinned.
        await remember_footprint(self._store, incident.id, card_pinned=False)
        await self._queue(RefreshCard(incident.id))

    async def renamed(self, *, channel: str) -> None:
        """`channel` was renamed: its name now is asked of Slack by an effect (`LearnChannelName`), not taken from the
        event. Slack retries an event whose delivery failed, up to an hour later: a first rename's retry arriving
        after a second rename's event named the channel by the name it had before (in the ticket's close notes). An
        event with no name (or one not a string) is a rename all the same: ignored, the rename was lost (found by a
        property)."""
        if not channel:
            return
        footprint = await self._store.footprint_by_channel(channel)
        if footprint is None:
            # No incident names it yet, or an opening is about to save it (remember_opened_channel): marked, then
            # looked for again, should the opening have saved it and looked for a mark in between.
            await self._store.remember(renamed_key(channel), RENAMED_MARK_SECONDS, self._clock.now().timestamp())
            footprint = await self._store.footprint_by_channel(channel)
        found = await self._own(footprint)
        if found is not None:
            await self._queue(LearnChannelName(found[0].id, channel))

    async def _own(self, footprint: SlackFootprint | None) -> tuple[Incident, SlackFootprint] | None:
        """The incident whose footprint this is, with it, when the footprint's channel is the incident's own."""
        if footprint is None:
            return None
        incident = await self._store.incident(footprint.incident_id)
        if incident is None or not footprint.in_own_channel(incident):
            return None
        return incident, footprint

    async def _queue(self, effect: Effect) -> None:
        await self._store.queue_effect(effect, self._clock.now().timestamp())
        self._wake()


class LearntStore(SlackFootprints, Deduplication, Outbox, Protocol):
    """What performing the channel's effects writes: the footprint, the "told the bot was removed" key, follow-ups."""


async def learn_from_slack(store: LearntStore, chat: Chat, clock: Clock, effect: LearnChannelName | LearnBotBack,
                           incident: Incident, footprint: SlackFootprint, *, tickets: bool) -> None:
    """Perform `effect` for the executor, from the incident and its footprint as its claim read them. Slack failing
    the read raises IntegrationError (the dispatcher retries it); what is learnt is recorded with the effect's outcome
    (bot/services/bookkeeping.py), its follow-ups queued with it: performed again — a lost outcome, a resent event's
    second effect — it finds the footprint as Slack has it, and writes and queues nothing. The channel no longer the
    incident's own (moved to a new one, its card to the team's) or gone from Slack: nothing. Moved while Slack was
    asked (the incident's `slack:` queue, alongside this one, found the channel archived and opened a new one): what
    was learnt of the old channel is not recorded, nor its follow-ups queued — the store looks, in the outcome's
    transaction (`remember_of_channel`): saved by the incident's id alone, the archived channel's name was written
    over the new channel's and the ticket told it (found in review)."""
    channel = effect.channel_id
    if footprint.channel_id != channel or not footprint.in_own_channel(incident):
        return
    if isinstance(effect, LearnBotBack) and not footprint.bot_removed:
        return  # (another invitation's effect, or a topic change's look, found it back already)
    now = await chat.channel(channel)
    if now is None:  # deleted meanwhile: the next step in it moves the incident to a new channel
        return
    if isinstance(effect, LearnChannelName):
        if now.name != footprint.channel_name:
            log.info("incident %s: its channel %s is #%s now (was #%s)", incident.id, channel, now.name,
                     footprint.channel_name)
            # The ticket's description names the channel: it follows (bot/services/ticket_sync.py).
            await remember_of_channel(store, incident.id, channel, {"channel_name": now.name},
                                      SyncTicket(incident.id, channel_renamed=True) if tickets else None,
                                      clock.now().timestamp())
        return
    if not now.is_member:  # a retry of an earlier join (its making the channel): still out
        log.info("incident %s: an earlier join of the bot to its channel %s came late; it is still removed",
                 incident.id, channel)
        return
    log.info("incident %s: the bot is back in its channel %s; its topic is set again", incident.id, channel)
    await store.forget(removed_told_key(channel))  # removed again, the channel is told again
    # The topic people may have changed meanwhile is set again (forgotten: the refresh sets it).
    await remember_of_channel(store, incident.id, channel, {"bot_removed": False, "topic": None},
                              RefreshCard(incident.id) if incident.status is not Status.RESOLVED else None,
                              clock.now().timestamp())
