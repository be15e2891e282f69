"""The Outbox port's `card_refresh_states`: per open incident, when a refresh of its card was last queued (pending
or done, never a resolved incident's), whether one is pending, whether its channel's opening is, and whether its card
was ever posted — what the scheduled refreshes budget by."""

from __future__ import annotations

from bot.domain.effects.slack import RefreshCard
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


async def test_an_opening_only_refused_so_far_still_waits_to_begin(store: Store) -> None:
    # Slack refused the channel's opening as rate-limited (a 429), then the bot's token: no attempt made yet, and not
    # under way, so it is still a new incident's channel the scheduled refreshes yield to. Under way, or failed
    # otherwise, it has begun.
    await commit(store, trigger("Q1", number=1))

    async def attempt(now: float, rate_limited_at: float | None = None, failed: bool = False,
                      credentials_refused: bool = False) -> bool:
        [row] = (await store.claim_due_effects(now, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0))["slack"]
        under_way = (await store.card_refresh_states())[0].channel_opening
        assert await store.effect_retry(row.seq, next_attempt_at=now + 1, error="slack: refused", owner="replica-a",
                                        rate_limited_at=rate_limited_at, failed=failed,
                                        credentials_refused=credentials_refused)
        assert under_way is False
        return (await store.card_refresh_states())[0].channel_opening

    assert (await store.card_refresh_states())[0].channel_opening is True
    assert await attempt(100.0, rate_limited_at=100.0) is True
    assert await attempt(101.0, failed=True, credentials_refused=True) is True
    assert await attempt(102.0, failed=True) is False  # a 500: it has begun
