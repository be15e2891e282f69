"""What the Outbox port's claims answer (`Outbox.claim_due_effects`, `Outbox.effect_done_then_claim`): the effects
taken, per lane, and when each lane is due next, so that the dispatcher learns when to look again from the claim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

# The claimed rows (the store port's OutboxRow; a parameter, as this module must not import the port's).
Row = TypeVar("Row")


class ClaimedEffects(dict[str, list[Row]]):
    """What a claim took per lane asked for, and `next_due`: when each such lane's next head is due or its lease
    ends, after the claim (None: nothing pending in it), read in the same store call (asking was a call of its own)."""

    def __init__(self, claimed: Mapping[str, list[Row]] | None = None,
                 next_due: Mapping[str, float | None] | None = None) -> None:
        super().__init__(claimed or {})
        self.next_due: dict[str, float | None] = dict(next_due or {})

    @classmethod
    def nothing(cls, room: Mapping[str, int], now: float) -> ClaimedEffects[Row]:
        """The answer of a claim that failed after the outcome before it was recorded (`effect_done_then_claim`):
        nothing taken, and every lane asked for due `now`, so that the caller claims at once instead."""
        return cls({lane: [] for lane in room}, dict.fromkeys(room, now))
