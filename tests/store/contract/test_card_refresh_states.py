"""The Outbox port's `card_refresh_states`: per open incident, when a refresh of its card was last queued (pending
or done, never a resolved incident's), whether one is pending, whether its channel's opening is, and whether its card
was ever posted — what the scheduled refreshes budget by."""

from __future__ import annotations

from bot.domain.effects import RefreshCard
from bot.ports.store import CardRefreshState, Store
from tests.store.contract.builders import commit, drain, resolve, trigger


async def test_each_open_card_says_when_it_was_last_refreshed_and_whether_one_is_pending(store: Store) -> None:
    closed = trigger("Q3", number=3)
    assert closed.incident is not None
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2), closed, resolve(closed.incident))
    # New incidents: their channels are still to be opened.
    assert await store.card_refresh_states() == [CardRefreshState("Q1", None, False, True, False),
                                                 CardRefreshState("Q2", None, False, True, False)]
    await drain(store)
    # Their openings done here (the effects drained, not performed): the cards are posted once their ts is known.
    assert await store.card_refresh_states() == [CardRefreshState("Q1", None, False, card_drawn=False),
                                                 CardRefreshState("Q2", None, False, card_drawn=False)]
    await store.update_footprint("Q1", channel_id="C1")
    await store.update_footprint("Q2", channel_id="C2", card_ts="2.2")
    assert await store.card_refresh_states() == [CardRefreshState("Q1", None, False, card_drawn=False),
                                                 CardRefreshState("Q2", None, False)]
    await store.update_footprint("Q1", card_ts="1.1")
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
