"""What performing one effect learns that the store must remember, kept until the effect's outcome is recorded.

An effect used to record each piece as it learnt it — the channel's card ts, the pin, the topic, the posted line's
ts, the ticket, the lines told to it — each a store call and a commit of its own, and then its outcome, in another.
Kept here instead (`EffectBookkeeping`), they are recorded with the outcome in ONE transaction
(`Outbox.effect_done`, `effect_retry`, `effect_dead`): one trip to the store and one commit per effect.

Nothing is lost by waiting: every piece kept here is one that the effect, tried again after a crash before its
outcome is recorded, finds again in the outside system (the executors look before they create: the card and lines
by their markers, the ticket by its correlation id, the note by its batch's marker) — the same guarantee a piece
written at once in a light (not fsynced) commit had. A piece another queue must see before the effect ends, or
that must be on record before a call goes out, is still written at once (see bot/services/bookkeeping.py). Only the
effect's holder records them: a replica whose lease ran out (another took the effect over) records nothing, so what
it learnt never overwrites what the new holder found; the new holder finds again whatever the old one did. An effect
cancelled mid-call (its replica stopping) has no outcome, but what it learnt is recorded all the same, the effect left
pending (`facts_only`, bot/services/dispatcher.py): its next attempt starts from it rather than finding it again.

The records kept here (`FootprintChange`, `TicketRow`) are re-exported by bot.ports.store, where they are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from bot.domain.effects import Effect


class FootprintChange(TypedDict, total=False):
    """Some pieces of a Slack footprint, to remember (`SlackFootprints.update_footprint`); None forgets a piece."""

    channel_id: str | None
    channel_name: str | None
    card_ts: str | None
    card_pinned: bool
    topic: str | None
    announced_ts: str | None
    invited: Sequence[str]
    unreachable: Sequence[str]
    shared_channel: bool
    sync_pending_shown: bool
    bot_removed: bool


@dataclass(frozen=True)
class TicketRow:
    """The incident's ServiceNow ticket as the bot knows it; `channel_told` is 1 once it has the channel's link, 2
    while a note of the link alone may have been sent (bot/services/ticket_sync.py)."""

    incident_id: str
    sys_id: str
    number: str
    link: str
    state: str | None = None
    channel_told: int = 0


def ticket_taken(ticket: TicketRow, owner: TicketRow) -> str:
    """What the store says when it refuses `ticket` because its sys_id is already `owner`'s (StoreConstraint)."""
    return (f"ServiceNow ticket {ticket.number} ({ticket.sys_id}) is already incident {owner.incident_id}'s ticket in "
            f"the store, so it cannot be recorded as incident {ticket.incident_id}'s too (one ticket per incident): "
            "look at both PagerDuty incidents (the same `servicenow:` incident key?) and the ticket's correlation_id")


@dataclass
class EffectBookkeeping:
    """What one effect has learnt so far, to record with its outcome. The facts (footprints, timeline ts, tickets,
    lines noted) are recorded whatever the outcome — done, retried, dead, or refused because another replica took
    the effect over (they say what exists outside, whoever finishes the effect). The follow-ups are queued only
    with the effect recorded done by its holder, as `Executor.after_done`'s were."""

    # Per incident, the footprint pieces learnt, merged in the order learnt (a later value of a piece wins).
    footprints: dict[str, FootprintChange] = field(default_factory=dict)
    # Per timeline entry, the Slack ts of its posted line (`Incidents.set_timeline_ts`).
    timeline_ts: dict[str, str] = field(default_factory=dict)
    # Per incident, its ticket as last learnt (`TicketRecords.save_ticket`).
    tickets: dict[str, TicketRow] = field(default_factory=dict)
    # Timeline entries told to the incident's ticket (`TicketRecords.mark_noted`).
    noted: list[str] = field(default_factory=list)
    # Effects to queue once this one is done (`Outbox.queue_effect`), each with when it was asked for.
    follow_ups: list[tuple[Effect, float]] = field(default_factory=list)
    # A ticket effect's: the incident whose card to refresh (and when asked) if, this effect done or dead, nothing in
    # its ServiceNow queue lags any more (a pending effect ServiceNow failed) and its card says "sync pending"; or if,
    # this effect retried, its card does not say it yet (decided in the outcome's transaction).
    refresh_card_once_synced: tuple[str, float] | None = None
    # An opened ticket's: the incident whose card to refresh (and when asked) to show the ticket, unless the
    # incident's channel opening is still pending — that opening's outcome decides then (`refresh_card_if_ticket`).
    refresh_card_for_ticket: tuple[str, float] | None = None
    # A channel opening's whose card did not show a ticket: the incident whose card to refresh if, this effect done,
    # the incident has a ticket (opened while the card was being posted).
    refresh_card_if_ticket: tuple[str, float] | None = None
    # An effect that learnt something of one channel of an incident (its name, the bot back in it: bot/services/
    # channel_events.py `learn_from_slack`), while another queue may move the incident to a new channel (its own
    # archived: bot/services/archived_channels.py): (the incident, the channel). The footprint pieces kept for that
    # incident, and the follow-ups, are recorded only while its footprint still names that channel — looked at in
    # the outcome's transaction (`SlackFootprints.update_footprint_in_channel`, at once).
    while_channel: tuple[str, str] | None = None

    def remember_footprint(self, incident_id: str, changes: FootprintChange) -> None:
        self.footprints.setdefault(incident_id, FootprintChange()).update(changes)

    def facts_only(self) -> EffectBookkeeping:
        """The facts alone, without the follow-ups and card refreshes an outcome decides: what an effect cancelled
        mid-call records (it has no outcome: it stays pending, to be tried again)."""
        return EffectBookkeeping(footprints=self.footprints, timeline_ts=self.timeline_ts, tickets=self.tickets,
                                 noted=self.noted, while_channel=self.while_channel)

    @property
    def facts(self) -> bool:
        """Whether anything but follow-ups is kept."""
        return bool(self.footprints or self.timeline_ts or self.tickets or self.noted)

    def __bool__(self) -> bool:
        return self.facts or bool(self.follow_ups) or self.card_refreshes

    @property
    def card_refreshes(self) -> bool:
        """Whether a card refresh may be queued, decided with the outcome."""
        return any(asked is not None for asked in (self.refresh_card_once_synced, self.refresh_card_for_ticket,
                                                   self.refresh_card_if_ticket))
