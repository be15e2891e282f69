"""Who is in an incident's own channel: its responders invited as they become known, and the channel told of those
the bot cannot add — people PagerDuty names who have no Slack account with their email, and those Slack will not add
(a guest, a deactivated account, an id gone since it was looked up). Each is told once; nobody is asked for again at
every card refresh."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from bot.domain.incident import Incident
from bot.ports import Chat, Clock
from bot.ports.store import SlackFootprint, SlackFootprints
from bot.render import card as cards
from bot.services.bookkeeping import remember_footprint
from bot.services.markers import marker_metadata
from bot.services.people import Responder

log = logging.getLogger(__name__)


class Invitations:
    def __init__(self, store: SlackFootprints, chat: Chat, clock: Clock) -> None:
        self._store, self._chat, self._clock = store, chat, clock

    async def when_known(self, incident: Incident, footprint: SlackFootprint,
                                 responders: Awaitable[list[Responder]]) -> None:
        # Awaited inside the gather, so the card is posted without waiting for the people lookups.
        await self.invite(incident, footprint, await responders)

    async def invite(self, incident: Incident, footprint: SlackFootprint, responders: Sequence[Responder]) -> None:
        assert footprint.channel_id is not None
        to_invite = [r.slack_user_id for r in responders
                     if r.slack_user_id and r.slack_user_id not in footprint.invited]
        if to_invite:
            refused = await self._chat.invite(footprint.channel_id, to_invite)
            if refused:
                # Told before they are recorded as invited: a post that fails leaves them to be invited again by the
                # retry, which tells the channel then (rather than never).
                await self._not_added(incident, footprint.channel_id,
                                      {r.slack_user_id: (r.name, refused[r.slack_user_id]) for r in responders
                                       if r.slack_user_id in refused})
            # Those Slack would not add are not asked again at each refresh: the channel is told of them once.
            footprint.invited = (*footprint.invited, *to_invite)
            await remember_footprint(self._store, incident.id, invited=footprint.invited)
        missing = [r for r in responders if r.slack_user_id is None
                   and r.pagerduty_user_id not in footprint.unreachable]
        if missing:
            # Names come from PagerDuty: escaped, so a name cannot carry a mention or a link into the channel.
            names = ", ".join(cards.name_text(r.name) for r in missing)
            marker = "unreachable:" + ",".join(sorted(r.pagerduty_user_id for r in missing))
            if await self._chat.find_posted(footprint.channel_id, marker, self._clock.now().timestamp() - 86400) \
                    is None:
                await self._chat.post_message(
                    footprint.channel_id,
                    f"⚠️ Could not find {names} in Slack (no Slack account with their PagerDuty email). "
                    "Please add them to this channel by hand.", metadata=marker_metadata(marker))
            footprint.unreachable = (*footprint.unreachable, *(r.pagerduty_user_id for r in missing))
            await remember_footprint(self._store, incident.id, unreachable=footprint.unreachable)

    async def _not_added(self, incident: Incident, channel_id: str, refused: dict[str, tuple[str, str]]) -> None:
        """`refused`: by Slack user id, the person's name and Slack's reason. Looked for first by its marker: an
        earlier attempt may have posted it and lost the answer."""
        log.warning("incident %s: Slack would not add %s to %s", incident.id, refused, channel_id)
        marker = "not-added:" + ",".join(sorted(refused))
        if await self._chat.find_posted(channel_id, marker, self._clock.now().timestamp() - 86400) is not None:
            return
        names = ", ".join(f"{cards.name_text(name)} (`{code}`)" for name, code in refused.values())
        await self._chat.post_message(channel_id, (
            f"⚠️ Slack would not add {names} to this channel: a guest or deactivated account, or one no longer there. "
            "Add them by hand if they should be here; a Slack admin can change a guest's access."),
            metadata=marker_metadata(marker))
