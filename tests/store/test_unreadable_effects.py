"""What a replica remembers of the effects it cannot read (bot/adapters/store/unreadable.py): each logged once, and
forgotten once the store finds it no longer pending (a newer replica performed it), looked at only past PRUNE_AT."""

from __future__ import annotations

import logging

import pytest

from bot.adapters.store.unreadable import PRUNE_AT, UnreadableEffects
from bot.domain.effects.slack import RefreshCard


def test_an_unreadable_effect_is_remembered_and_told_once(caplog: pytest.LogCaptureFixture) -> None:
    unreadable = UnreadableEffects()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert unreadable.decode(7, "refresh_card", '{"incident_id": "Q1", "style": "compact"}') is None
            assert unreadable.decode(8, "refresh_card", "{not json") is None
    assert unreadable.decode(9, "refresh_card", '{"incident_id": "Q1"}') == RefreshCard("Q1")
    assert unreadable.seqs == (7, 8)
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 2 and "#7 (refresh_card)" in told[0] and "style" in told[0] and "#8" in told[1], told


def test_those_no_longer_pending_are_forgotten_when_there_are_many() -> None:
    unreadable = UnreadableEffects()
    for seq in range(PRUNE_AT - 1):
        unreadable.decode(seq, "refresh_card", "{}")
    assert not unreadable.due_for_pruning
    unreadable.decode(PRUNE_AT, "refresh_card", "{}")
    assert unreadable.due_for_pruning
    unreadable.keep_only(range(0, PRUNE_AT + 1, 2))  # the store found only the even ones still pending
    assert unreadable.seqs == tuple(range(0, PRUNE_AT + 1, 2)) and not unreadable.due_for_pruning
    for seq in range(1_000, 1_000 + PRUNE_AT):  # still many after a look: the next waits for twice as many
        unreadable.decode(seq, "refresh_card", "{}")
    assert len(unreadable.seqs) >= PRUNE_AT and unreadable.due_for_pruning
    unreadable.keep_only(unreadable.seqs)
    assert not unreadable.due_for_pruning
