"""The store's port for on-call handovers: which shift boundaries have been handed over, their posts, and the notes
left for the next shift (split from bot/ports/store.py, which re-exports it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.effects import Effect

# A handover's states: its post is queued, posted, or it was deliberately skipped (nobody covers the shift); or its
# post was let go, the rota gone from every catalogue the bot has read (the operators are told), never to be posted.
QUEUED, POSTED, SKIPPED, ROTA_REMOVED = "queued", "posted", "skipped", "skipped: rota removed"
# (PagerDuty user id, name) of the people on call.
OnCallPeople = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class HandoverRow:
    shift_key: str
    rota_id: str
    boundary: datetime
    late: bool
    state: str
    # (PagerDuty user id, name) pairs; None: not known yet (PagerDuty was unreachable).
    outgoing: tuple[tuple[str, str], ...] | None
    incoming: tuple[tuple[str, str], ...] | None
    channel: str | None
    ts: str | None


@dataclass(frozen=True)
class EffectHolder:
    """An effect being performed (its outbox `seq`) and the replica performing it (`owner`, its lease's): what it
    records at once (a handover's post, `save_post`) is recorded only while that replica still holds the lease.
    `cut_short`: the effect's last attempt before this one never recorded how it ended (OutboxRow.cut_short)."""

    seq: int
    owner: str
    cut_short: bool = False


@dataclass(frozen=True)
class HandoverNote:
    id: int
    author: str
    text: str
    created_at: datetime



class HandoverLedger(Protocol):
    """Which rota's shift boundaries have been handed over, and the notes left for the next shift.

    A handover is keyed by its shift_key (rota and boundary): claiming it and queueing its post happen together, and
    a second claim of the same key does nothing, so restarts and overlapping jobs produce one post."""

    async def last_boundary(self, rota_id: str, until: datetime | None = None) -> datetime | None:
        """The latest boundary handed over (or deliberately skipped) for the rota; with `until`, the latest at or
        before it (one recorded while the clock read later, then was put right, is not "since")."""
        ...
    async def claim(self, shift_key: str, rota_id: str, boundary: datetime, *, late: bool, effect: Effect | None,
                    now: float) -> bool:
        """Record the handover and queue its post (`effect`), once: False when the shift_key was already there.
        With `effect` None the boundary is recorded as skipped (e.g. an out-of-hours shift nobody covers)."""
        ...
    async def get(self, shift_key: str) -> HandoverRow | None: ...
    async def save_post(self, shift_key: str, *, channel: str, ts: str, outgoing: OnCallPeople | None,
                        incoming: OnCallPeople | None, notes: Sequence[HandoverNote], follow_up: Effect | None,
                        now: float, holder: EffectHolder | None = None) -> bool:
        """Record the post, give it the notes it showed and queue its follow-up, in one transaction: a crash leaves
        either all of it (the retry finds the post done) or none (the retry finds the message by its marker). With
        `holder`, only while that replica still holds the effect's lease (as `Outbox.effect_done` with an owner):
        a replica paused past its lease, whose effect another took over, records nothing over the newer post (False).
        """
        ...
    async def let_go(self, shift_key: str, state: str, *, alert: Effect, now: float) -> bool:
        """Settle a handover still queued that will never be posted as `state` (ROTA_REMOVED) and queue the
        operators' `alert` saying so, in one transaction; False (nothing done) when it is no longer queued."""
        ...
    async def save_on_call(self, shift_key: str, outgoing: OnCallPeople, incoming: OnCallPeople) -> None: ...
    async def add_note(self, rota_id: str, author: str, text: str, created_at: datetime) -> int:
        """Keep a note for the rota's next handover; returns how many notes are now waiting."""
        ...
    async def notes_for(self, rota_id: str, shift_key: str, before: datetime) -> list[HandoverNote]:
        """The notes a handover shows, oldest first: those it already carries, and those waiting that were left
        before its boundary (a later note is for the next handover). Reading does not take them; `save_post` does."""
        ...
    async def notes_of(self, shift_key: str) -> list[HandoverNote]:
        """The notes a posted handover carried, oldest first."""
        ...
    async def waiting_notes(self, rota_id: str) -> list[HandoverNote]:
        """Notes not yet handed over, oldest first (an on-demand handover shows them without taking them)."""
        ...
    async def waiting_notes_of(self, rota_ids: Sequence[str]) -> dict[str, list[HandoverNote]]:
        """`waiting_notes` of several rotas in one call (the App Home shows those of each of the reader's rotas): for
        each rota asked for, its notes not yet handed over, oldest first (an empty list when it has none)."""
        ...
    async def backlog(self, incident_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(dead effects, ServiceNow updates waiting) per incident, for the handover's "pending" list; an incident
        missing from the answer has neither."""
        ...
