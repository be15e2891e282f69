"""Who is in an incident's own channel: its responders invited as they become known, and the channel told of those
the bot cannot add — people PagerDuty names who have no Slack account with their email, and those Slack will not add
(a guest, a deactivated account, an id gone since it was looked up; or nobody at all: the bot removed from the
channel, the workspace's rules). Each is told once; nobody is asked for again when the channel's opening is retried.

Someone newly assigned, asked to respond or given a role is invited though invited before: they may have left the
channel since (an engineer who left when the incident moved on to someone else, and whom it comes back to)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from bot.domain.incident import Incident
from bot.errors import IntegrationError
from bot.ports import BOT_REMOVED, Chat, Clock
from bot.ports.store import SlackFootprint, SlackFootprints
from bot.render import card as cards
from bot.services.bookkeeping import remember_footprint
from bot.services.markers import marker_metadata
from bot.services.people import Responder

log = logging.getLogger(__name__)
# conversations.invite refused as a whole, for everyone asked for, by what retrying cannot change: the bot is no
# longer in the channel (someone removed it), or the workspace's rules (Enterprise Key Management, a policy).
WHOLE_CALL_REFUSALS = frozenset({BOT_REMOVED, "ekm_access_denied", "restricted_action", "no_permission",
                                 "team_access_not_granted"})


class Invitations:
    def __init__(self, store: SlackFootprints, chat: Chat, clock: Clock) -> None:
        self._store, self._chat, self._clock = store, chat, clock

    async def when_known(self, incident: Incident, footprint: SlackFootprint,
                                 responders: Awaitable[list[Responder]]) -> None:
        """The channel's opening: its responders, those invited by an earlier attempt of it not asked for again."""
        # Awaited inside the gather, so the card is posted without waiting for the people lookups.
        await self._invite(incident, footprint, await responders, again=False)

    async def invite(self, incident: Incident, footprint: SlackFootprint, responders: Sequence[Responder]) -> None:
        """People the incident has come to (assigned, asked to respond, given a role): invited even if they were
        before, as they may have left the channel since (Slack says who is in already)."""
        await self._invite(incident, footprint, responders, again=True)

    async def _invite(self, incident: Incident, footprint: SlackFootprint, responders: Sequence[Responder], *,
                      again: bool) -> None:
        assert footprint.channel_id is not None
        to_invite = list(dict.fromkeys(r.slack_user_id for r in responders
                                       if r.slack_user_id and (again or r.slack_user_id not in footprint.invited)))
        if to_invite:
            whole: str | None = None
            try:
                refused = await self._chat.invite(footprint.channel_id, to_invite)
            except IntegrationError as error:
                if error.code not in WHOLE_CALL_REFUSALS:
                    raise
                whole = str(error.code)
                refused = dict.fromkeys(to_invite, whole)
            # Each told once: someone asked for before (refused then, and told) is not named again when invited again.
            news = {user: code for user, code in refused.items() if user not in footprint.invited}
            if news:
                # Told before they are recorded as invited: a post that fails leaves them to be invited again by the
                # retry, which tells the channel then (rather than never).
                await self._not_added(incident, footprint.channel_id,
                                      {r.slack_user_id: (r.name, news[r.slack_user_id]) for r in responders
                                       if r.slack_user_id in news}, whole)
            # Those Slack would not add are not asked again by a retry of the opening: the channel is told of them once.
            footprint.invited = tuple(dict.fromkeys((*footprint.invited, *to_invite)))
            await remember_footprint(self._store, incident.id, invited=footprint.invited)
        missing = [r for r in responders if r.slack_user_id is None
                   and r.pagerduty_user_id not in footprint.unreachable]
        if missing:
            marker = "unreachable:" + ",".join(sorted(r.pagerduty_user_id for r in missing))
            if await self._chat.find_posted(footprint.channel_id, marker, self._clock.now().timestamp() - 86400) \
                    is None:
                await self._chat.post_message(footprint.channel_id, _unreachable(incident, missing),
                                              metadata=marker_metadata(marker))
            footprint.unreachable = (*footprint.unreachable, *(r.pagerduty_user_id for r in missing))
            await remember_footprint(self._store, incident.id, unreachable=footprint.unreachable)

    async def _not_added(self, incident: Incident, channel_id: str, refused: dict[str, tuple[str, str]],
                         whole: str | None = None) -> None:
        """`refused`: by Slack user id, the person's name and Slack's reason; `whole`: Slack's code when it refused
        the invitation as a whole. Looked for first by its marker: an earlier attempt may have posted it and lost the
        answer."""
        log.warning("incident %s: Slack would not add %s to %s", incident.id, refused, channel_id)
        marker = "not-added:" + ",".join(sorted(refused))
        if await self._chat.find_posted(channel_id, marker, self._clock.now().timestamp() - 86400) is not None:
            return
        if whole == BOT_REMOVED:
            names = ", ".join(cards.name_text(name) for name, _ in refused.values())
            text = (f"⚠️ I could not add {names} to this channel: I am no longer a member of it (someone removed "
                    "me). Add them by hand, and `/invite @pavedroad` back so that I can keep the channel's topic and "
                    "its people up to date.")
        elif whole is not None:
            names = ", ".join(cards.name_text(name) for name, _ in refused.values())
            text = (f"⚠️ Slack would not let me add {names} to this channel (`{whole}`: the workspace's rules). Add "
                    "them by hand if they should be here; a Slack admin can say what the rule is.")
        else:
            names = ", ".join(f"{cards.name_text(name)} (`{code}`)" for name, code in refused.values())
            text = (f"⚠️ Slack would not add {names} to this channel: a guest or deactivated account, or one no "
                    "longer there. Add them by hand if they should be here; a Slack admin can change a guest's "
                    "access.")
        await self._chat.post_message(channel_id, text, metadata=marker_metadata(marker))


def _unreachable(incident: Incident, missing: Sequence[Responder]) -> str:
    """Whom the bot could not find in Slack, and why: no Slack account with their PagerDuty email, or no user of that
    id in PagerDuty's API any more (deleted since it was assigned: then named as the incident's webhook named them).
    Names come from PagerDuty: escaped, so a name cannot carry a mention or a link into the channel."""
    named = {p.id: p.name for p in incident.assignees}
    reasons = {True: "no Slack account with their PagerDuty email",
               False: "PagerDuty no longer knows their user, so their email cannot be looked up"}
    said = [f"Could not find {', '.join(cards.name_text(named.get(r.pagerduty_user_id) or r.name) for r in group)} "
            f"in Slack ({reasons[known]})." for known in (True, False)
            if (group := [r for r in missing if r.known_to_pagerduty is known])]
    return f"⚠️ {' '.join(said)} Please add them to this channel by hand."
