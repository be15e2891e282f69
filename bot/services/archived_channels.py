"""What an incident's Slack work does when Slack says the channel it works in is archived — or, for a team's channel,
that it finds none the bot can post in by that name (renamed in Slack while the catalogue names the old name,
deleted, or private without the bot): the team channel is then as good as archived.

- The incident's own channel, the incident resolved: nothing more is said there (a late follow-up is on the
  timeline, the review and the ticket).
- Its own channel, the incident open again (reopened after the bot archived its channel; apps cannot unarchive): the
  incident moves to a new channel, which says where the earlier story is, and the step is retried there.
- A team channel Slack will not let the bot post in (posting limited to admins, the workspace's rules:
  CANNOT_POST_THERE): as one not found — new cards and announcements go to the default channel, and a card there
  is posted again where a new one would go, its thread going on there.
- The team channel an incident without a channel of its own has its card in (a person archived it: the bot archives
  only incidents' own channels): the card and its thread are kept, for when it is unarchived, and the operators are
  told once a day per channel — not once per update and card refresh, every five minutes, for every incident there.
- A card or an announcement that is yet to be posted, its team channel archived: it goes to the catalogue's default
  announce channel instead (an incident with no card anywhere would be invisible in Slack), the operators told as
  above; that one archived too, it goes nowhere and the operators hear of that channel as well.
- Its own channel deleted in Slack (a workspace admin may delete any channel), the incident open: as archived, it
  moves to a new channel (there is no earlier story left to point to), rather than every later step dying.
- Its own channel the bot was removed from (`not_in_channel`: the topic, a pin, an invitation): the channel is told
  once a day to invite it back, and the step ends there, rather than every card refresh dying with an alert; the
  footprint remembers it (`bot_removed`), so that no card refresh spends a topic call Slack refuses until the bot is
  invited back (bot/services/channel_events.py; a topic to change asks Slack whether it is back: `still_removed`).
- An incident's own channel that Slack will not let the bot create (MAY_NOT_MANAGE_CHANNELS: the workspace lets
  only some members create channels, the app lacks channels:manage): its card goes to its team channel instead, as
  for an incident the policy gives no channel of its own (`footprint.shared_channel`: kept up to date there, its
  timeline in the card's thread, never pinned nor archived), rather than the incident having no card anywhere and
  an operators' alert at every refresh; the operators are told once a day what to change in Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.catalogue import Catalogue
from bot.domain.effects import OPERATORS, AlertOperators
from bot.domain.effects.slack import SayChannelMoved
from bot.domain.incident import Incident, Status
from bot.errors import IntegrationError
from bot.ports import (
    BOT_REMOVED,
    CANNOT_POST_THERE,
    CHANNEL_ARCHIVED,
    CHANNEL_NOT_FOUND,
    MAY_NOT_MANAGE_CHANNELS,
    ChannelInfo,
    Chat,
    Clock,
)
from bot.ports.store import Deduplication, Outbox, SlackFootprint, SlackFootprints
from bot.render.card import name_text
from bot.services.bookkeeping import remember_footprint
from bot.services.channel_events import removed_told_key
from bot.services.markers import marker_metadata

log = logging.getLogger(__name__)
# The operators hear of an archived team channel once in this long (per channel, across replicas and restarts).
TOLD_SECONDS = 86400.0


# Slack refusing a reply under one message (its thread takes none): the card's, not the channel's.
THREAD_CLOSED = "cannot_reply_to_message"
# Slack's answer in a channel the bot is no longer a member of (someone removed it).
# What to change when Slack refuses the bot channels, by its answer (MAY_NOT_MANAGE_CHANNELS).
_REFUSALS = {
    "restricted_action": "the workspace lets only some members create channels. Let the app create public channels "
                         "(Slack admin: Settings & permissions → Permissions → Channel Management → who can create "
                         "public channels).",
    "missing_scope": "the app was installed without the `channels:manage` scope. Reinstall it with the scopes of "
                     "app_manifest.yml (api.slack.com/apps → the app → Install App → Reinstall to Workspace).",
    "user_is_restricted": "the bot's user is restricted in this workspace (as a guest is). Ask a workspace admin "
                          "to lift the restriction.",
}
_REFUSALS["user_is_ultra_restricted"] = _REFUSALS["user_is_restricted"]


class ArchivedChannelStore(SlackFootprints, Outbox, Deduplication, Protocol):
    """The incident's Slack footprint, the outbox (the operators' alert) and the deduplication of that alert."""


class ArchivedChannels:
    def __init__(self, store: ArchivedChannelStore, chat: Chat, catalogue: Catalogue, clock: Clock,
                 open_channel: Callable[[Incident, float], Awaitable[None]]) -> None:
        self._store, self._chat, self._catalogue, self._clock = store, chat, catalogue, clock
        self._open_channel = open_channel  # opens the incident's channel anew (the executor's, not a retry)

    async def unless_archived(self, incident: Incident, step: Awaitable[None], since: float,
                              footprint: SlackFootprint) -> None:
        """Run a step in the incident's channel (its own, or its team's — `footprint.channel_name`, when known: the
        default channel its card went to instead); when Slack says it is archived, as the module says."""
        try:
            await step
        except IntegrationError as error:
            shared, where = not footprint.in_own_channel(incident), footprint.channel_name
            if shared and error.code == THREAD_CLOSED:  # one card's thread, not the channel: the line stays
                log.info("incident %s: Slack takes no reply under its card (%s); the update stays on the timeline",
                         incident.id, error.code)
                return
            lost = not shared and error.code in CHANNEL_NOT_FOUND  # its own deleted, or the bot removed from it
            if error.code not in CHANNEL_ARCHIVED and not lost and not (shared and error.code in CANNOT_POST_THERE):
                raise
            if incident.status is Status.RESOLVED:
                log.info("incident %s: its channel is %s; the update stays on the timeline", incident.id, error.code)
                return
            if shared:
                await self._team_channel_unusable(incident, str(error.code), where)
                if error.code not in CHANNEL_ARCHIVED:  # deleted (a rename keeps its id), the bot removed, or
                    await self._repost(incident, since)  # closed to it: as good as gone (an archived one may return)
                return
            if error.code == BOT_REMOVED:
                await self._removed(incident, footprint)
                return
            await self._move(incident, since, say=error.code in CHANNEL_ARCHIVED)

    async def in_team_channel(self, incident: Incident,
                              post: Callable[[str, tuple[str, ...]], Awaitable[None]]) -> None:
        """`post` (a card or an announcement, by channel name) in `incident`'s team channel; that one archived (or not
        found), in the default announce channel, as the module says. `post`'s second argument: where a retry looks for
        an earlier attempt's post — the default channel too when posting in the team's (an attempt whose answer was
        lost may have posted there while the team's was not found, and the team's be found again since)."""
        team = self._catalogue.announce_channel_for(incident.service_id)
        fallback = self._fallback(team)
        for channel, look_in in ((team, (team, fallback)), (fallback, (fallback,))):
            if channel is None:
                return
            try:
                await post(channel, tuple(c for c in look_in if c is not None))
                return
            except IntegrationError as error:
                if error.code not in CANNOT_POST_THERE:
                    raise
                await self._team_channel_unusable(incident, str(error.code), channel)

    async def unless_refused(self, incident: Incident, creating: Awaitable[ChannelInfo]) -> ChannelInfo | None:
        """The incident's own channel, as `creating` creates it; None when Slack lets the bot create no channel (the
        card goes to the team channel instead), the operators told once a day what to change."""
        try:
            return await creating
        except IntegrationError as error:
            if error.code not in MAY_NOT_MANAGE_CHANNELS:
                raise
            code = str(error.code)
        log.warning("incident %s: Slack refuses to let the bot create its channel (%s); its card goes to its team "
                    "channel", incident.id, code)
        now = self._clock.now().timestamp()
        example = f"#{incident.number}, {name_text(incident.service_name)}, for one"
        alert = AlertOperators(OPERATORS, (
            f"⚠️ Slack refuses to let the bot create incident channels (`{code}`): {_REFUSALS[code]} Meanwhile "
            f"incidents that should have a channel of their own have their card in their team channel instead "
            f"({example}), kept up to date there with their timeline in its thread; new incidents get channels "
            "of their own again once it is fixed."))
        # Claimed and queued in one transaction: as two writes, a crash between them lost the day's alert.
        await self._store.first_time_then_queue(f"slack:channels-refused:{code}", TOLD_SECONDS, now, alert,
                                                priority=0)
        return None

    def _fallback(self, team: str) -> str | None:
        """Where cards and announcements go while `team` is archived (or not found): the default announce channel,
        unless it is `team` itself."""
        default = self._catalogue.channels.default_announce_channel
        return None if default.lstrip("#") == team.lstrip("#") else default

    async def _team_channel_unusable(self, incident: Incident, code: str, channel: str | None = None) -> None:
        """Slack refused a post or an edit in `incident`'s team channel (or `channel`, where its card went instead) as
        archived or not found (`code`): logged; the operators told once a day per channel."""
        team = (channel or self._catalogue.announce_channel_for(incident.service_id)).lstrip("#")
        archived = code in CHANNEL_ARCHIVED
        log.warning("incident %s: the team channel #%s for its card or announcement is %s (%s); the update stays on "
                    "the timeline", incident.id, team, "archived" if archived else
                    "not found" if code in CHANNEL_NOT_FOUND else "closed to the bot", code)
        now = self._clock.now().timestamp()
        fallback = self._fallback(team)
        meanwhile = (f" Cards and announcements of new incidents go to #{name_text(fallback.lstrip('#'))} "
                     "meanwhile." if fallback else "")
        name, example = name_text(team), f"#{incident.number}, {name_text(incident.service_name)}, for one"
        default = team == self._catalogue.channels.default_announce_channel.lstrip("#")
        setting = "`channels.default_announce_channel`" if default else "the team's `slack_channel`"
        what = (f"⚠️ #{name} is archived, and the cards of incidents without a channel of their own are there "
                f"({example}): their cards and threads no longer change. Unarchive it in Slack (each card is "
                "brought up to date at its next change, and at the five-minute card refresh), or give its "
                "services another team channel in the catalogue for incidents from now on."
                if archived else
                f"⚠️ The bot is not in #{name} (`{code}`), where cards of incidents without a channel of their "
                f"own and announcements of new incident channels go ({example}): `/invite @pavedroad` into it."
                if code == BOT_REMOVED else
                f"⚠️ Slack does not let the bot post in #{name} (`{code}`: posting there is limited — to "
                "admins, say — or the channel is closed to the app by the workspace's rules), where cards of "
                "incidents without a channel of their own and announcements of new incident channels go "
                f"({example}). Let the app post there (the channel's settings → Posting permissions), or set "
                f"{setting} in the catalogue to a channel it may post in."
                if code not in CHANNEL_NOT_FOUND else
                f"⚠️ Slack finds no channel #{name} the bot can post in (`{code}`): renamed or deleted in Slack "
                "while the catalogue still names it, or private without the bot. Cards of incidents without a "
                f"channel of their own and announcements of new incident channels go there ({example}). Set "
                f"{setting} in the catalogue to the channel's name now (`pavedroad check-config`, then a SIGHUP "
                "or a restart of the bot), or `/invite @pavedroad` into it if it is private.")
        alert = AlertOperators(OPERATORS, (f"{what}{meanwhile} Meanwhile the incidents go on in PagerDuty, ServiceNow "
                                           "and `/incident` commands, and every update is on their timelines."))
        # Claimed and queued in one transaction: as two writes, a crash between them lost the day's alert.
        await self._store.first_time_then_queue(f"slack:team-channel-archived:{team}", TOLD_SECONDS, now, alert,
                                                priority=0)

    async def _move(self, incident: Incident, since: float, *, say: bool = True) -> None:
        """`say`: the new channel says where the earlier story is (not when the old one was deleted: it is gone)."""
        old = await self._store.footprint(incident.id)
        log.info("incident %s: its channel %s is %s: opening a new one", incident.id, old.channel_id,
                 "archived" if say else "deleted")
        if old.channel_id and say:
            # Queued before the old channel is forgotten: a retry of an opening that failed before the new channel
            # existed is no move, and would say nothing. It runs behind this effect, once the new channel is open.
            await self._store.queue_effect(SayChannelMoved(incident.id, old.channel_id),
                                           self._clock.now().timestamp())
        await remember_footprint(self._store, incident.id, at_once=True, channel_id=None, channel_name=None,
                                 card_ts=None, card_pinned=False, topic=None, announced_ts=None, invited=(),
                                 unreachable=(), bot_removed=False)
        await self._open_channel(incident, since)
        raise IntegrationError("slack", "moved to a new channel: the incident's old one is archived or gone",
                               retryable=True, retry_after=0)

    async def _removed(self, incident: Incident, footprint: SlackFootprint) -> None:
        """Someone removed the bot from the incident's own channel: Slack lets it post there still (a public channel),
        but not set the topic, pin or invite. The channel is told once a day how to bring it back."""
        channel = footprint.channel_id
        assert channel is not None
        log.warning("incident %s: the bot is no longer in its channel %s (someone removed it): the topic and "
                    "invitations wait until it is invited back", incident.id, channel)
        footprint.bot_removed = True
        await remember_footprint(self._store, incident.id, bot_removed=True)
        key, now = removed_told_key(channel), self._clock.now().timestamp()
        if not await self._store.first_time(key, TOLD_SECONDS, now):
            return
        try:
            await self._chat.post_message(channel, (
                f"⚠️ I am no longer a member of this channel (someone removed me), so #{incident.number}'s topic is "
                "no longer kept up to date here, nor are its new responders added. `/invite @pavedroad` to bring me "
                "back."), metadata=marker_metadata(f"removed:{channel}"))
        except IntegrationError as error:
            if error.code != BOT_REMOVED:
                await self._store.forget(key)  # not told: the next step tells it
                raise
            # Slack lets it post nothing there either (the app installed without chat:write.public): the operators
            # are told instead, rather than every line and invitation dying with an alert of its own.
            await self._store.queue_effect(AlertOperators(OPERATORS, (
                f"⚠️ The bot was removed from <#{channel}> (#{incident.number}, {name_text(incident.service_name)}) "
                "and Slack lets it post nothing there (`not_in_channel`: the app lacks the `chat:write.public` "
                "scope of app_manifest.yml, or a workspace rule): `/invite @pavedroad` into it. Meanwhile its "
                "topic, new responders and timeline lines wait; every update is on the incident's timeline.")),
                now, priority=0)
        except BaseException:
            await self._store.forget(key)  # not told: the next step tells it
            raise

    async def still_removed(self, incident: Incident, footprint: SlackFootprint) -> bool:
        """Whether the bot is still out of the incident's own channel (`bot_removed`): asked of Slack only then, and
        by conversations.info (a read Slack answers, not the Tier 2 topic call it refuses). Invited back without its
        `member_joined_channel` reaching the bot — an app installed from an earlier manifest, the event lost, or a
        step that met the removal just as someone undid it writing the flag after the event had cleared it — the
        flag is let go here, and the topic set again, rather than kept stale for the rest of the incident."""
        channel = footprint.channel_id
        if not footprint.bot_removed or channel is None:
            return False
        found = await self._chat.channel(channel)
        if found is None or not found.is_member:
            return True
        log.info("incident %s: the bot is in its channel %s again; its topic is kept up to date again", incident.id,
                 channel)
        footprint.bot_removed = False
        await remember_footprint(self._store, incident.id, bot_removed=False)
        await self._store.forget(removed_told_key(channel))  # removed again, the channel is told again
        return False

    async def say_moved(self, incident: Incident, footprint: SlackFootprint, old_channel_id: str,
                        since: float) -> None:
        """SayChannelMoved: said in the new channel, unless already there (a lost answer, a move begun twice) — not
        in a team channel, where the card went because Slack refused the new channel (the card says where it is)."""
        new_channel_id = footprint.channel_id
        if new_channel_id and not footprint.in_own_channel(incident):
            log.info("incident %s moved to its team channel (Slack refused it a new channel): no move to tell",
                     incident.id)
            return
        if not new_channel_id or new_channel_id == old_channel_id:
            if incident.status is Status.RESOLVED:  # resolved again before it opened: it never will
                log.info("incident %s resolved before its new channel opened: no move to tell", incident.id)
                return
            raise IntegrationError("slack", "the incident's new channel is not open yet", retryable=True)
        marker = f"moved:{old_channel_id}"
        if await self._chat.find_posted(new_channel_id, marker, since) is not None:
            return
        await self._chat.post_message(new_channel_id, (
            f"♻️ #{incident.number} continues here: its channel <#{old_channel_id}> was archived, and Slack does not "
            "let apps unarchive a channel. The earlier story is in that channel (read-only) and in "
            "`/incident timeline`."), metadata=marker_metadata(marker))

    async def _repost(self, incident: Incident, since: float) -> None:
        """The card's team channel is gone for good: the card is posted again where a new one would go (its team
        channel as the catalogue names it now, else the default announce channel), and the step retried there."""
        log.info("incident %s: its card's channel is gone; posting the card again", incident.id)
        await remember_footprint(self._store, incident.id, at_once=True, channel_id=None, channel_name=None,
                                 card_ts=None, shared_channel=False)
        await self._open_channel(incident, since)
        raise IntegrationError("slack", "the card's channel is gone: posted again", retryable=True, retry_after=0)
