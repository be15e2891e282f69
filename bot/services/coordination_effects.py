"""Performing the incident manager's effects: inviting a new role holder, sharing a status update with the
stakeholders' channel, publishing it in PagerDuty as its author, the reminder that an update is due, and the offer
of command to a paged incident manager; and telling a person, in their direct messages with the app, that a stop cut
their command short or that someone took command just before them (`TellPerson`).

They converge when replayed: Slack messages carry a marker that a retry looks for before posting again (a direct
message in the app's DM with the person, opened for its id: im:write and im:history);
PagerDuty's copy of an update is not published again once PagerDuty's webhook has confirmed it, and an attempt whose
answer was lost is retried only after that webhook has had `CONFIRM_SECONDS` to come. A stakeholders' channel the bot
cannot post in is not retried (retrying cannot fix it): the author and the operators are told, and the update's
other effects go on. A reminder or an offer meeting the incident's own channel archived (or deleted) while it is
open follows it to a new channel, as its timeline does (bot/services/archived_channels.py).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Protocol

from bot.catalogue import Catalogue
from bot.domain.coordination import StatusUpdate
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.pagerduty import PublishStatusUpdate
from bot.domain.effects.slack import InviteToChannel, OfferCommand, PostReminder, ShareStatusUpdate, TellPerson
from bot.domain.incident import Incident, Status
from bot.errors import IntegrationError
from bot.ports import (
    BOT_REMOVED,
    CANNOT_POST_THERE,
    CHANNEL_ARCHIVED,
    CHANNEL_GONE,
    CHANNEL_NOT_FOUND,
    Chat,
    Clock,
    Paging,
)
from bot.ports.store import Incidents, Outbox, SlackFootprints
from bot.render import status_updates as render
from bot.render.card import name_text
from bot.services.archived_channels import ArchivedChannels
from bot.services.invitations import Invitations
from bot.services.markers import LOOKBACK_SECONDS, marker_metadata
from bot.services.people import People, Responder

log = logging.getLogger(__name__)
TOOLKIT_EFFECTS = (InviteToChannel, ShareStatusUpdate, PublishStatusUpdate, PostReminder, OfferCommand,
                   TellPerson)
# How long a status update whose answer was lost waits for PagerDuty's webhook (incident.status_update_published)
# before it is published again: its webhooks come within seconds. No webhook by then (none subscribed, or lost): it
# is published again, and may then show twice.
CONFIRM_SECONDS = 60.0


class CoordinationStore(Incidents, SlackFootprints, Outbox, Protocol):
    """What these effects need of the store: the incident, its Slack footprint, and the outbox (operators' alerts)."""


class CoordinationEffects:
    def __init__(self, store: CoordinationStore, chat: Chat, paging: Paging, people: People, catalogue: Catalogue,
                 clock: Clock) -> None:
        self._store, self._chat, self._paging, self._people = store, chat, paging, people
        self._catalogue, self._clock = catalogue, clock

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      archived: ArchivedChannels | None = None) -> None:
        """`archived`: the executor's, for a reminder or an offer met by the incident's own channel archived while
        the incident is open (a person archived it): the incident moves to a new channel, as its timeline does."""
        if isinstance(effect, TellPerson):  # about no incident: in the person's direct messages with the app
            await self._tell(effect, retry=retry, created_at=created_at)
            return
        incident = await self._store.incident(effect.incident_id)
        if incident is None:
            return
        since = created_at - LOOKBACK_SECONDS
        match effect:
            case InviteToChannel(user_ids=user_ids):
                await self._invite(incident, user_ids)
            case ShareStatusUpdate(update_id=update_id):
                if (update := _update(incident, update_id)) is not None:
                    await self._share(incident, update, retry=retry, since=since)
            case PublishStatusUpdate(update_id=update_id):
                update = _update(incident, update_id)
                # Confirmed by PagerDuty's webhook: a lost answer to an earlier attempt is not published twice.
                if update is not None and update.author_email and not update.in_pagerduty:
                    await self._publish(incident, update.author_email, update.message)
            case PostReminder(reminder_id=reminder_id):
                await self._remind(incident, reminder_id, retry=retry, since=since, archived=archived)
            case OfferCommand(pagerduty_user_id=user_id):
                await self._offer(incident, user_id, retry=retry, since=since, archived=archived)

    async def _tell(self, effect: TellPerson, *, retry: bool, created_at: float) -> None:
        """In the person's direct messages with the app, marked: a retry after an answer lost looks there first (an
        app installed before im:write and im:history cannot look, and tells them again, as before)."""
        marker = "tell:" + hashlib.sha256(f"{created_at!r} {effect.user} {effect.text}".encode()).hexdigest()[:16]
        if retry and await self._chat.find_posted(effect.user, marker, created_at - LOOKBACK_SECONDS) is not None:
            return
        await self._chat.post_message(effect.user, effect.text, metadata=marker_metadata(marker))

    async def _publish(self, incident: Incident, author_email: str, message: str) -> None:
        """PagerDuty's copy of a status update. An attempt whose answer is lost (no answer, or a 500/502/504: it may
        have been published) is retried only once PagerDuty's webhook has had `CONFIRM_SECONDS` to say so, since
        its API cannot list an incident's status updates (only POST /incidents/{id}/status_updates)."""
        try:
            await self._paging.publish_status_update(incident.id, author_email, message)
        except IntegrationError as error:
            if not error.outcome_unknown:
                raise  # PagerDuty said no, or never heard it: retried as usual
            raise IntegrationError(error.service, f"{error.detail} — it may have been published: waiting for "
                                   "PagerDuty's webhook before trying again", retryable=True, code=error.code,
                                   retry_after=CONFIRM_SECONDS, status=error.status) from error

    async def _channel(self, incident: Incident) -> tuple[str, str | None]:
        """The incident's channel, and the thread its lines go in (its card's, in a team channel)."""
        footprint = await self._store.footprint(incident.id)
        if footprint.channel_id is None:
            raise IntegrationError("slack", "the incident channel is not open yet", retryable=True)
        return footprint.channel_id, None if footprint.in_own_channel(incident) else footprint.card_ts

    async def _invite(self, incident: Incident, user_ids: tuple[str, ...]) -> None:
        footprint = await self._store.footprint(incident.id)
        if not footprint.in_own_channel(incident) or footprint.channel_id is None:
            return  # a card in a team channel: nobody is invited there
        # Invited though invited before (they may have left the channel), and whoever Slack will not add is named
        # in the channel: the card says they hold the role.
        names = {holder.slack_user_id: holder.name for holder in incident.roles}
        await Invitations(self._store, self._chat, self._clock).invite(
            incident, footprint, [Responder("", names.get(user, user), user) for user in user_ids])

    async def _share(self, incident: Incident, update: StatusUpdate, *, retry: bool, since: float) -> None:
        target = self._catalogue.stakeholders_channel_for(incident.service_id)
        footprint = await self._store.footprint(incident.id)
        marker = f"stakeholders:{update.id}"
        try:
            if retry and await self._chat.find_posted(target, marker, since) is not None:
                return
            text, blocks = render.stakeholder_message(incident, update, footprint.channel_id)
            await self._chat.post_message(target, text, blocks, metadata=marker_metadata(marker))
        except IntegrationError as error:
            if error.code not in CANNOT_POST_THERE:
                raise
            await self._cannot_share(incident, update, target, footprint.channel_id, str(error.code))

    async def _cannot_share(self, incident: Incident, update: StatusUpdate, target: str, channel_id: str | None,
                            code: str) -> None:
        log.warning("status update %s on %s not shared: cannot post in #%s (%s)", update.id, incident.id, target, code)
        why, fix = _closed(code)
        told = (f"⚠️ Your status update on #{incident.number} could not go to #{name_text(target)}: Slack says "
                f"`{code}` ({why}). It goes everywhere else as usual. {fix[0].upper()}{fix[1:]}, or paste it there by "
                "hand.")
        if update.author_slack_id:
            try:
                if channel_id is None:
                    raise IntegrationError("slack", "no incident channel", retryable=False)
                await self._chat.post_ephemeral(channel_id, update.author_slack_id, told)
            except IntegrationError:  # not in the incident channel (or it has none): tell them directly
                await self._chat.post_message(update.author_slack_id, told)
        # One cause: the updates of the next hour (this incident's, others') go in this alert's thread.
        await self._store.queue_effect(AlertOperators.grouped(f"stakeholders:{target.lstrip('#')}:{code}", (
            f"⚠️ Paved Road cannot post status updates in #{name_text(target)} (`{code}`: {why}), the "
            f"stakeholders' channel for #{incident.number} ({name_text(incident.service_name)}). {fix[0].upper()}"
            f"{fix[1:]}; or change `channels.stakeholders` (or the domain's `stakeholders_channel`) in the "
            "catalogue.")), self._clock.now().timestamp(), priority=0)

    async def _post(self, incident: Incident, channel: str, thread: str | None, text: str,
                    blocks: list[dict[str, Any]], marker: str, *, since: float,
                    archived: ArchivedChannels | None) -> None:
        """Posted in the incident's channel, or under its card in a team channel: there, a channel Slack will not
        let the bot post in (archived, closed to it; the card's own effects tell the operators) or a thread that
        takes no replies drops it, as it does a timeline line — not a dead effect and an alert at each reminder.
        Its own channel archived (or deleted by an admin) while it is open: it moves to a new channel (`archived`),
        and the post follows it there at the next try."""
        try:
            await self._chat.post_message(channel, text, blocks, thread_ts=thread, metadata=marker_metadata(marker))
        except IntegrationError as error:
            if thread is None and error.code in (*CHANNEL_ARCHIVED, CHANNEL_GONE) and archived is not None:
                await self._moved(incident, channel, error, since, archived)
            elif thread is None or error.code not in CANNOT_POST_THERE:
                raise
            else:
                log.info("incident %s: Slack refuses the post under its card (%s); dropped", incident.id, error.code)

    async def _moved(self, incident: Incident, channel: str, error: IntegrationError, since: float,
                     archived: ArchivedChannels) -> None:
        """The incident's own `channel` is archived or deleted: handled as its timeline's lines are (open, it moves
        to a new channel; resolved, nothing more is said there); moved, the post is retried in the new one."""
        await archived.unless_archived(incident, _raise(error), since, await self._store.footprint(incident.id))
        if (await self._store.footprint(incident.id)).channel_id not in (None, channel):
            raise IntegrationError("slack", f"#{incident.number} moved to a new channel (its own was archived or "
                                   "deleted): posted there at the next try", retryable=True) from error

    async def _remind(self, incident: Incident, reminder_id: str, *, retry: bool, since: float,
                      archived: ArchivedChannels | None) -> None:
        if incident.status is Status.RESOLVED:
            return  # resolved while the reminder waited: nothing is due any more
        channel, thread = await self._channel(incident)
        marker = f"remind:{reminder_id}"
        if retry and await self._chat.find_posted(channel, marker, since, thread) is not None:
            return
        commander = incident.commander
        if commander is not None:
            mentions = [f"<@{commander.slack_user_id}>"]
        else:
            responders = await self._people.responders([p.id for p in incident.assignees])
            # One PagerDuty's API no longer knows is named as the incident's webhook named them, not by their id.
            named = {p.id: p.name for p in incident.assignees}
            mentions = [f"<@{r.slack_user_id}>" if r.slack_user_id else name_text(named.get(r.pagerduty_user_id)
                                                                                  or r.name) for r in responders]
        text, blocks = render.reminder_message(incident, mentions, incident.triggered_at, self._clock.now())
        await self._post(incident, channel, thread, text, blocks, marker, since=since, archived=archived)

    async def _offer(self, incident: Incident, pagerduty_user_id: str, *, retry: bool, since: float,
                     archived: ArchivedChannels | None) -> None:
        if incident.commander is not None or incident.status is Status.RESOLVED:
            return  # someone took command meanwhile, or it is over
        channel, thread = await self._channel(incident)
        marker = f"offer:{incident.id}:{pagerduty_user_id}"
        if retry and await self._chat.find_posted(channel, marker, since, thread) is not None:
            return
        responder = await self._people.responder(pagerduty_user_id)
        mention = f"<@{responder.slack_user_id}>" if responder.slack_user_id else name_text(responder.name)
        text, blocks = render.offer_message(incident, mention)
        await self._post(incident, channel, thread, text, blocks, marker, since=since, archived=archived)


async def _raise(error: IntegrationError) -> None:
    """A post that failed already, for `ArchivedChannels.unless_archived` to handle as it does a timeline line."""
    raise error


def _update(incident: Incident, update_id: str) -> StatusUpdate | None:
    found = next((u for u in incident.status_updates if u.id == update_id), None)
    if found is None:  # let go by the incident (coordination.kept_updates): hours old with twenty newer, or forty newer
        log.warning("status update %s on %s is no longer kept by the incident: not sent", update_id, incident.id)
    return found


def _closed(code: str) -> tuple[str, str]:
    """Why Slack refused a post in a channel (`code`, one of CANNOT_POST_THERE), and what someone can do about it."""
    if code in CHANNEL_ARCHIVED:
        return "the channel is archived", "ask its owner to unarchive it"
    if code == BOT_REMOVED:
        return "I am not a member of the channel", "ask its owner to invite me (`/invite @pavedroad`)"
    if code == "ekm_access_denied":
        return ("the organisation's Enterprise Key Management has revoked access to it",
                "ask your Slack organisation's security admins, who manage its keys")
    if code == "team_access_not_granted":
        return ("it is shared with another organisation that has not approved this app",
                "ask that organisation's Slack admins to approve the app for the channel")
    if code in CHANNEL_NOT_FOUND:
        return ("Slack finds no such channel I can see: renamed, deleted, or private without me",
                "create it, or invite me if it is private (`/invite @pavedroad`)")
    return ("posting there is limited (to admins, say) or the channel is closed to the app",
            "ask its owner to let the app post (the channel's settings → Posting permissions)")
