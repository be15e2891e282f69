"""What an incident's team channel hears of it, beside the card a low-urgency incident keeps there: the announcement
of the incident's own channel (in the team channel, or the default one when it is archived: archived_channels.py),
and, once an incident whose card is there moves to a channel of its own (its priority or urgency raised), that card
retired — it says where the incident went, without its buttons — rather than staying "Triggered" for good."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.catalogue import Catalogue
from bot.domain.incident import Incident
from bot.errors import IntegrationError
from bot.ports import Chat
from bot.ports.store import SlackFootprint, SlackFootprints
from bot.render import card as cards
from bot.services.archived_channels import ArchivedChannels
from bot.services.bookkeeping import remember_footprint
from bot.services.markers import find_posted_in, marker_metadata

log = logging.getLogger(__name__)


class TeamChannel:
    def __init__(self, store: SlackFootprints, chat: Chat, catalogue: Catalogue, archived: ArchivedChannels) -> None:
        self._store, self._chat, self._catalogue, self._archived = store, chat, catalogue, archived

    async def announce(self, incident: Incident, footprint: SlackFootprint, channel_id: str, *, retry: bool,
                       since: float) -> None:
        """The incident's channel announced in its team channel (archived: in the default announce channel, rather
        than the opening dying, an alert per incident, or being taken for a move)."""
        if footprint.announced_ts is not None:
            return
        marker = f"announce:{incident.id}:{channel_id}"  # each channel's: a moved incident's new one is announced

        async def announce_in(team_channel: str, look_in: Sequence[str]) -> None:
            found = await find_posted_in(self._chat, look_in, marker, since) if retry else None
            posted = found[1] if found is not None else await self._chat.post_message(
                team_channel, cards.announcement(incident, channel_id), metadata=marker_metadata(marker))
            await remember_footprint(self._store, incident.id, announced_ts=posted.ts)

        await self._archived.in_team_channel(incident, announce_in)

    async def tell_new_team(self, incident: Incident, footprint: SlackFootprint, from_service: str, *,
                            since: float) -> None:
        """Moved to a service of another team: that team's channel (or the default one) gets the announcement the
        first team's had, linking where the incident is followed — its own channel, or the team channel its card is
        in. Looked for first, every time: the channel's opening, should it have come after the move, announced it
        there already (the same marker)."""
        channel_id = footprint.channel_id
        if channel_id is None or self._catalogue.announce_channel_for(incident.service_id) == \
                self._catalogue.announce_channel_for(from_service):
            return  # not open yet (its opening announces it where it now belongs), or both teams share a channel
        marker = f"announce:{incident.id}:{channel_id}"
        # The first team's announcement bears the same marker: where that team was told (the default channel, for a
        # team naming none) is no sign that this one was, unless it is where this announcement goes too.
        told_before = self._catalogue.announce_channel_for(from_service).lstrip("#")

        async def announce_in(team_channel: str, look_in: Sequence[str]) -> None:
            look_in = [c for c in look_in if c == team_channel or c.lstrip("#") != told_before]
            if await find_posted_in(self._chat, look_in, marker, since) is None:
                await self._chat.post_message(team_channel, cards.announcement(incident, channel_id),
                                              metadata=marker_metadata(marker))

        await self._archived.in_team_channel(incident, announce_in)

    async def retire_card(self, incident: Incident, footprint: SlackFootprint, channel_id: str) -> None:
        """The card the incident had in a team channel, now that it has `channel_id` of its own: edited to say so, its
        buttons gone (they would act on an incident the card no longer follows). Setting it again changes nothing; a
        card Slack no longer lets the bot edit (deleted, its channel archived or closed to the bot) is let go: the
        incident's own channel is what matters, and the team channel's announcement says where it is."""
        if not footprint.shared_channel or footprint.channel_id is None or footprint.card_ts is None:
            return
        text = cards.moved_away(incident, channel_id)
        try:
            await self._chat.update_message(footprint.channel_id, footprint.card_ts, text,
                                            [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        except IntegrationError as error:
            if error.retryable or error.credentials_refused:
                raise
            log.info("incident %s: its card in %s was not retired (%s); it moved to %s", incident.id,
                     footprint.channel_id, error.code, channel_id)
