"""Keeping what an effect learns until its outcome is recorded (bot/ports/effect_bookkeeping.py), so that the pieces
and the outcome cost one store trip and one commit instead of one each.

The dispatcher opens an `EffectBookkeeping` for each effect it performs (`keeping`), in the effect's own task
(a context variable: the effect's steps run concurrently in tasks of their own, which share it, while the effects
performed at the same time each see their own). The executors record through the functions here; with no effect
being performed (a command, a test calling an executor alone) each piece is written at once, as before.

Written at once even inside an effect (`at_once=True`): a piece another queue must see while this effect is still
running (the channel's id, which the ticket sync reads; the card's "sync pending" flag, which a finished sync reads
to decide on a refresh), or one that must be on record before a call goes out (a ticket's LINK_SENT). Writing one at
once takes the incident's kept pieces with it, so pieces are always recorded in the order they were learnt. Should
that write fail (or be cancelled: it may have landed), the pieces it took along go back, to be recorded with the
effect's outcome (a retry's, or the facts of an effect stopped mid-call), but for those it set itself: their earlier
values are stale, and its own are not kept (the card's "sync pending" flag is written before the card says it). A
ticket written at once is kept whole instead: it supersedes the one kept before, and its LINK_SENT says only that the
note may have gone (the next attempt looks before it sends it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Protocol, Unpack, cast

from bot.domain.effects import Effect
from bot.domain.effects.slack import RefreshCard
from bot.errors import StoreConstraint
from bot.ports.handover_ledger import EffectHolder
from bot.ports.store import (
    EffectBookkeeping,
    FootprintChange,
    Incidents,
    Outbox,
    SlackFootprints,
    TicketRecords,
    TicketRow,
)

_KEPT: ContextVar[EffectBookkeeping | None] = ContextVar("effect_bookkeeping", default=None)
_HOLDER: ContextVar[EffectHolder | None] = ContextVar("effect_holder", default=None)


@contextlib.contextmanager
def keeping(holder: EffectHolder | None = None) -> Iterator[EffectBookkeeping]:
    """Keep what the effect performed in this block learns (this task, and the tasks it starts, share it); `holder`:
    that effect and the replica performing it under its lease (`holding`)."""
    kept = EffectBookkeeping()
    token, held = _KEPT.set(kept), _HOLDER.set(holder)
    try:
        yield kept
    finally:
        _HOLDER.reset(held)
        _KEPT.reset(token)


def holding() -> EffectHolder | None:
    """The effect being performed here and the replica performing it (None outside the dispatcher: a command, a test
    calling an executor alone). A record written at once that must not overwrite what a replica that took the effect
    over recorded (a handover's post, `save_post`) is written only while this one still holds the lease."""
    return _HOLDER.get()


async def remember_footprint(store: SlackFootprints, incident_id: str, *, at_once: bool = False,
                             **changes: Unpack[FootprintChange]) -> None:
    kept = _KEPT.get()
    if kept is None:
        await store.update_footprint(incident_id, **changes)
    elif at_once:
        # Taken out before the write (not after it): pieces learnt while it is under way are kept for the outcome.
        earlier = kept.footprints.pop(incident_id, None)
        merged = FootprintChange()
        if earlier:
            merged.update(earlier)
        merged.update(changes)
        try:
            await store.update_footprint(incident_id, **merged)
        except BaseException:  # not recorded (refused, or cancelled mid-write): the outcome records them instead
            # All but the pieces this write set (it may have landed): their earlier values are stale.
            back = cast(FootprintChange, {piece: value for piece, value in (earlier or {}).items()
                                          if piece not in changes})
            back.update(kept.footprints.get(incident_id, FootprintChange()))  # learnt meanwhile: later, so they win
            if back:
                kept.footprints[incident_id] = back
            raise
    else:
        kept.remember_footprint(incident_id, changes)


class FootprintsAndOutbox(SlackFootprints, Outbox, Protocol):
    """Where `remember_of_channel` writes."""


async def remember_of_channel(store: FootprintsAndOutbox, incident_id: str, channel_id: str, changes: FootprintChange,
                              then: Effect | None, now: float) -> None:
    """Footprint pieces learnt of the incident's channel `channel_id`, and the effect that follows from them (`then`),
    recorded only while the incident's footprint still names that channel: another queue may move the incident to a
    new channel (its own archived) while Slack is asked about the old one, and a piece of the old one saved by the
    incident's id alone lands on the new (found in review: an archived channel's name written over the new one's, the
    ticket told it). The store looks in the outcome's transaction (EffectBookkeeping.while_channel); with no effect
    being performed, the write itself looks, at once, and `then` is queued after it when it wrote."""
    kept = _KEPT.get()
    if kept is None:
        if await store.update_footprint_in_channel(incident_id, channel_id, changes) and then is not None:
            await store.queue_effect(then, now)
        return
    kept.while_channel = (incident_id, channel_id)
    kept.remember_footprint(incident_id, changes)
    if then is not None:
        kept.follow_ups.append((then, now))


async def remember_timeline_ts(store: Incidents, entry_id: str, ts: str) -> None:
    kept = _KEPT.get()
    if kept is None:
        await store.set_timeline_ts(entry_id, ts)
    else:
        kept.timeline_ts[entry_id] = ts


async def remember_ticket(store: TicketRecords, ticket: TicketRow, *, at_once: bool = False) -> None:
    kept = _KEPT.get()
    if kept is None or at_once:
        if kept is not None:
            kept.tickets.pop(ticket.incident_id, None)  # superseded: the row is written whole
        try:
            await store.save_ticket(ticket)
        except StoreConstraint:
            raise  # refused for what it says (another incident's ticket): the outcome must not carry it again
        except BaseException:  # not recorded (refused, or cancelled mid-write): the outcome records it instead
            if kept is not None:
                kept.tickets.setdefault(ticket.incident_id, ticket)  # unless a later one was learnt meanwhile
            raise
    else:
        kept.tickets[ticket.incident_id] = ticket


async def remember_noted(store: TicketRecords, entry_ids: Sequence[str]) -> None:
    kept = _KEPT.get()
    if kept is None:
        await store.mark_noted(entry_ids)
    else:
        kept.noted.extend(e for e in entry_ids if e not in kept.noted)


async def follow_up(store: Outbox, effect: Effect, now: float) -> None:
    """Queue `effect` once the one being performed is recorded done (at once, with none being performed)."""
    kept = _KEPT.get()
    if kept is None:
        await store.queue_effect(effect, now)
    else:
        kept.follow_ups.append((effect, now))


async def refresh_card_for_ticket(store: Outbox, incident_id: str, now: float) -> None:
    """An opened ticket's follow-up: refresh the incident's card to show it, unless the incident's channel opening is
    still pending (its outcome decides then: `refresh_card_if_ticket`). Decided with the effect's outcome; with none
    being performed, queued at once."""
    kept = _KEPT.get()
    if kept is None:
        await store.queue_effect(RefreshCard(incident_id), now)
    else:
        kept.refresh_card_for_ticket = (incident_id, now)


def refresh_card_if_ticket(incident_id: str, shown: bool, now: float) -> None:
    """A channel opening's follow-up: unless its card `shown` the ticket, refresh the card if, this effect done, the
    incident has a ticket (opened meanwhile, its own refresh left to this opening). The latest say of the effect
    wins: an opening asks first, before it knows, and again once its card is rendered."""
    kept = _KEPT.get()
    if kept is not None:
        kept.refresh_card_if_ticket = None if shown else (incident_id, now)


def refresh_card_once_synced(incident_id: str, now: float) -> None:
    """A ticket effect's follow-up: refresh the incident's card if, this effect done, nothing in its ServiceNow queue
    lags any more and the card says "sync pending"; or if, this effect retried (ServiceNow failed it), the card does
    not say it yet (decided with the effect's outcome: EffectBookkeeping). Outside an effect performed by the
    dispatcher there is no outcome to decide it with: the scheduler's card refreshes catch up."""
    kept = _KEPT.get()
    if kept is not None:
        kept.refresh_card_once_synced = (incident_id, now)
