"""The Outbox port's `card_refresh_states`: per open incident, when a refresh of its card was last queued (pending
or done, never a resolved incident's), whether one is pending and whether its channel's opening is — what the
scheduled refreshes budget by."""

from __future__ import annotations

from bot.domain.effects import RefreshCard
from bot.ports.store import CardRefreshState, Store
from tests.store.contract.builders import commit, drain, resolve, trigger


async def test_each_open_card_says_when_it_was_last_refreshed_and_whether_one_is_pending(store: Store) -> None:
    closed = trigger("Q3", number=3)
    assert closed.incident is not None
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2), closed, resolve(closed.incident))
    # New incidents: their channels are still to be opened.
    assert await store.card_refresh_states() == [CardRefreshState("Q1", None, False, True),
                                                 CardRefreshState("Q2", None, False, True)]
    await drain(store)
    assert await store.card_refresh_states() == [CardRefreshState("Q1", None, False),
                                                 CardRefreshState("Q2", None, False)]
    await store.queue_card_refreshes(now=200.0, only=["Q1"])
    await drain(store)
    await store.queue_card_refreshes(now=300.0, only=["Q1", "Q2"])
    # Q1's latest refresh is pending (queued at 300), its earlier one done; Q2's first is pending.
    assert await store.card_refresh_states() == [CardRefreshState("Q1", 300.0, True),
                                                 CardRefreshState("Q2", 300.0, True)]
    await drain(store)
    await store.queue_effect(RefreshCard("Q2"), now=400.0)  # a state change's refresh counts the same
    assert await store.card_refresh_states() == [CardRefreshState("Q1", 300.0, False),
                                                 CardRefreshState("Q2", 400.0, True)]
