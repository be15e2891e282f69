"""The Outbox port's lanes, heads and card refreshes: each outside system's effects are offered on their own (a lane),
only the first pending effect of a queue is ever offered or waited for, and a card refresh is neither queued twice
while one waits nor put ahead of new incidents' channels."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from bot.domain.contributions import KeyMessageMarked, apply_contribution
from bot.domain.effects.pagerduty import PublishStatusUpdate
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry, ReadKeyMessage, RefreshCard
from bot.ports.store import OutboxRow, Store
from tests.store.contract.builders import commit, drain, trigger


async def test_each_lane_offers_only_its_own_systems_effects(store: Store) -> None:
    await commit(store, trigger("Q1", number=1), now=100.0)
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    await store.queue_effect(PublishStatusUpdate("Q1", "u1"), now=100.0)

    def kinds(rows: list[OutboxRow]) -> list[str]:
        return [r.effect.kind for r in rows]
    assert kinds(await store.due_effects(now=100.0, limit=10, busy=[], lane="servicenow")) == ["sync_ticket"]
    assert kinds(await store.due_effects(now=100.0, limit=10, busy=[], lane="pagerduty")) == [
        "publish_status_update"]
    assert kinds(await store.due_effects(now=100.0, limit=10, busy=[], lane="slack")) == ["open_incident_channel"]
    # Without a lane, every lane's, most urgent first (the event's effects are high urgency: priority 0).
    assert kinds(await store.due_effects(now=100.0, limit=10, busy=[])) == [
        "open_incident_channel", "sync_ticket", "publish_status_update"]
    assert len(await store.due_effects(now=100.0, limit=2, busy=[])) == 2


async def test_the_next_effect_of_a_queue_is_offered_once_the_one_before_is_done_or_dead(store: Store) -> None:
    for entry in ("e1", "e2", "e3", "e4"):
        await store.queue_effect(PostTimelineEntry("Q1", entry), now=10.0)
    await store.queue_effect(PostTimelineEntry("Q2", "f1"), now=10.0)

    async def heads(now: float = 10.0) -> list[str]:
        rows = await store.due_effects(now=now, limit=10, busy=[], lane="slack")
        return [r.effect.entry_id for r in rows if isinstance(r.effect, PostTimelineEntry)]
    assert await heads() == ["e1", "f1"]
    [first, _] = await store.due_effects(now=10.0, limit=10, busy=[], lane="slack")
    assert await store.claim_effect(first.seq, owner="a", now=10.0, lease_seconds=30.0)
    assert await heads() == ["f1"]  # leased: nothing behind it is offered
    assert await store.effect_retry(first.seq, next_attempt_at=20.0, error="429", owner="a")
    assert await heads() == ["f1"] and await heads(now=20.0) == ["e1", "f1"]
    assert await store.claim_effect(first.seq, owner="a", now=20.0, lease_seconds=30.0)
    assert await store.effect_done(first.seq, owner="a")
    assert await heads() == ["e2", "f1"]
    [second, _] = await store.due_effects(now=10.0, limit=10, busy=[], lane="slack")
    assert await store.claim_effect(second.seq, owner="a", now=10.0, lease_seconds=30.0)
    assert await store.effect_dead(second.seq, "channel_not_found", None, now=10.0, owner="a")
    assert await heads() == ["e3", "f1"]
    assert await drain(store) == [PostTimelineEntry("Q1", "e3"), PostTimelineEntry("Q2", "f1"),
                                  PostTimelineEntry("Q1", "e4")]
    assert await heads() == []
    # A queue emptied and used again starts with a head.
    await store.queue_effect(PostTimelineEntry("Q1", "e5"), now=30.0)
    assert await heads(now=30.0) == ["e5"]


async def test_the_next_due_time_is_the_first_a_queue_may_run(store: Store) -> None:
    await store.queue_effect(PostTimelineEntry("Q1", "e1"), now=5.0)
    [head] = await store.due_effects(now=5.0, limit=10, busy=[])
    assert await store.claim_effect(head.seq, owner="a", now=5.0, lease_seconds=30.0)
    assert await store.effect_retry(head.seq, next_attempt_at=200.0, error="429", owner="a")
    # Queued behind the head that waits until 200: it cannot run before, however early it was due.
    await store.queue_effect(PostTimelineEntry("Q1", "e2"), now=6.0)
    assert await store.next_effect_due_at() == 200.0
    await store.queue_effect(SyncTicket("Q1"), now=50.0)
    assert await store.next_effect_due_at() == 50.0
    assert await store.next_effect_due_at(["slack"]) == 200.0
    assert await store.next_effect_due_at(["pagerduty"]) is None
    assert await store.next_effect_due_at([]) is None
    # A leased head is due again when its lease ends (should its holder die).
    [sync] = await store.due_effects(now=50.0, limit=10, busy=[], lane="servicenow")
    assert await store.claim_effect(sync.seq, owner="a", now=50.0, lease_seconds=30.0)
    assert await store.next_effect_due_at(["servicenow"]) == 80.0


async def test_a_card_refresh_is_not_queued_while_one_that_will_render_the_card_waits(store: Store) -> None:
    await commit(store, trigger("Q1", number=1))
    # The channel's opening has not been attempted: it will post the card as things are when it runs.
    await store.queue_effect(RefreshCard("Q1"), now=101.0)
    assert await store.pending_in_queue("slack:Q1") == 2  # the opening and the triggered line's post
    await drain(store)
    for now in (102.0, 103.0, 104.0):
        await store.queue_effect(RefreshCard("Q1"), now=now)
    assert await store.queue_card_refreshes(now=105.0) == 0
    [refresh] = await store.due_effects(now=105.0, limit=10, busy=[])
    assert refresh.effect == RefreshCard("Q1") and await store.pending_in_queue("slack:Q1") == 1
    # Once it is being performed it may have read the incident already: a new request is queued, once.
    assert await store.claim_effect(refresh.seq, owner="a", now=105.0, lease_seconds=30.0)
    await store.queue_effect(RefreshCard("Q1"), now=106.0)
    await store.queue_effect(RefreshCard("Q1"), now=107.0)
    assert await store.pending_in_queue("slack:Q1") == 2
    assert await store.effect_done(refresh.seq, owner="a")
    assert await drain(store) == [RefreshCard("Q1")]


async def test_an_attempted_opening_does_not_stand_for_a_refresh(store: Store) -> None:
    await commit(store, trigger("Q1", number=1))
    [opening] = await store.due_effects(now=100.0, limit=10, busy=[])
    assert await store.claim_effect(opening.seq, owner="a", now=100.0, lease_seconds=30.0)
    assert await store.effect_retry(opening.seq, next_attempt_at=100.0, error="429", owner="a")
    # Tried once: its card may be posted already, and a retry leaves a posted card as it is.
    await store.queue_effect(RefreshCard("Q1"), now=101.0)
    assert await store.pending_in_queue("slack:Q1") == 3


async def test_a_card_refresh_yields_to_new_incidents_channels(store: Store) -> None:
    await commit(store, trigger("Q1", number=1))
    await drain(store)
    await store.queue_effect(RefreshCard("Q1"), now=101.0)  # e.g. its ticket became known
    await commit(store, trigger("Q2", number=2, urgency="low", priority=None), now=102.0)
    due = await store.due_effects(now=102.0, limit=10, busy=[])
    assert [(r.effect.incident_id, type(r.effect)) for r in due] == [("Q2", OpenIncidentChannel),
                                                                     ("Q1", RefreshCard)]


async def test_claiming_the_due_effects_claims_each_lanes_most_urgent_heads_up_to_its_room(store: Store) -> None:
    await commit(store, trigger("Q1", number=1), now=100.0)  # high urgency: its channel's opening is priority 0
    for incident_id in ("Q2", "Q3", "Q4"):
        await store.queue_effect(PostTimelineEntry(incident_id, f"e-{incident_id}"), now=100.0)
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    await store.queue_effect(SyncTicket("Q2"), now=100.0)
    await store.queue_effect(PublishStatusUpdate("Q1", "u1"), now=200.0)  # not due yet

    claimed = await store.claim_due_effects(100.0, {"slack": 2, "servicenow": 5, "pagerduty": 1}, ["servicenow:Q2"],
                                            owner="a", lease_seconds=30.0)
    assert {lane: [r.effect for r in rows] for lane, rows in claimed.items()} == {
        "slack": [OpenIncidentChannel("Q1"), PostTimelineEntry("Q2", "e-Q2")],
        "servicenow": [SyncTicket("Q1")],  # Q2's queue is busy here
        "pagerduty": []}
    assert all(r.attempts == 0 for rows in claimed.values() for r in rows)  # as they were before this claim
    # Claimed for `a`: offered to nobody while the lease runs, and theirs to report on.
    offered = await store.due_effects(now=100.0, limit=10, busy=[])
    assert [r.effect for r in offered] == [PostTimelineEntry("Q3", "e-Q3"), PostTimelineEntry("Q4", "e-Q4"),
                                           SyncTicket("Q2")]
    opening = claimed["slack"][0]
    assert not await store.claim_effect(opening.seq, owner="b", now=110.0, lease_seconds=30.0)
    assert not await store.effect_done(opening.seq, owner="b")
    # A lane without room is not read; once the lease ran out the effect is claimed again, its attempt counted (and
    # cut short: `a` never said how it ended).
    again = await store.claim_due_effects(131.0, {"slack": 1, "servicenow": 0}, [], owner="b", lease_seconds=30.0)
    assert again == {"slack": [replace(opening, attempts=1, cut_short=True)]}
    assert not await store.effect_done(opening.seq, owner="a")
    assert await store.effect_done(opening.seq, owner="b")


async def test_replicas_claiming_the_due_effects_at_once_get_each_effect_once(make_store: Callable[[], Store]) -> None:
    one, two = make_store(), make_store()
    await one.open()
    await two.open()
    try:
        for n in range(30):
            await one.queue_effect(PostTimelineEntry(f"Q{n}", f"e{n}"), now=10.0)
        seqs: list[int] = []
        while True:  # rounds of four claimers at once, two per replica, until nothing is left to claim
            rounds = await asyncio.gather(*(store.claim_due_effects(10.0, {"slack": 4}, [], owner=owner,
                                                                    lease_seconds=60.0)
                                            for store, owner in ((one, "a"), (two, "b"), (one, "a"), (two, "b"))))
            claimed = [r.seq for found in rounds for r in found["slack"]]
            if not claimed:
                break
            seqs += claimed
        assert sorted(seqs) == sorted(set(seqs)) and len(seqs) == 30
        assert await one.due_effects(now=10.0, limit=10, busy=[]) == []
    finally:
        await two.close()
        await one.close()


async def test_the_claim_says_when_each_lane_it_was_asked_for_is_due_next(store: Store) -> None:
    await store.queue_effect(PostTimelineEntry("Q1", "e1"), now=5.0)
    await store.queue_effect(PostTimelineEntry("Q2", "f1"), now=5.0)
    await store.queue_effect(SyncTicket("Q1"), now=5.0)
    [head] = await store.due_effects(now=5.0, limit=1, busy=[], lane="servicenow")
    assert await store.claim_effect(head.seq, owner="a", now=5.0, lease_seconds=30.0)
    assert await store.effect_retry(head.seq, next_attempt_at=90.0, error="503", owner="a")
    # Slack's room takes one of its two heads: the other is due now, the claimed one runs until its lease ends.
    claimed = await store.claim_due_effects(10.0, {"slack": 1, "servicenow": 4, "pagerduty": 2}, [], owner="a",
                                            lease_seconds=30.0)
    assert [r.effect for r in claimed["slack"]] == [PostTimelineEntry("Q1", "e1")] and claimed["servicenow"] == []
    assert claimed.next_due == {"slack": 5.0, "servicenow": 90.0, "pagerduty": None}
    assert claimed.next_due == {lane: await store.next_effect_due_at([lane]) for lane in claimed.next_due}
    # Nothing due (the look without the write lock) says it too; a lane without room is neither claimed nor read.
    rest = await store.claim_due_effects(10.0, {"slack": 0, "servicenow": 1}, [], owner="a", lease_seconds=30.0)
    assert rest == {"servicenow": []} and rest.next_due == {"servicenow": 90.0}
    [posting] = claimed["slack"]
    assert await store.effect_done(posting.seq, owner="a")
    taken = await store.claim_due_effects(10.0, {"slack": 2}, [], owner="a", lease_seconds=30.0)
    assert [r.effect for r in taken["slack"]] == [PostTimelineEntry("Q2", "f1")]
    assert taken.next_due == {"slack": 40.0}  # the lease just taken is all that is pending in the lane


async def test_a_marked_messages_read_is_slacks_but_waits_behind_none_of_the_incidents_slack_work(store: Store) -> None:
    """A key message's read (queued by applying its mark) reads back as it was queued, in Slack's lane and a queue of
    its own: Slack refusing it for a while (429s, retried) holds up none of the incident's card and lines."""
    opened = trigger("Q1")
    assert opened.incident is not None
    marked = apply_contribution(opened.incident, KeyMessageMarked("Q1", "C1", "1795000000.000100", "UASHA"),
                                tickets=False)
    await commit(store, opened, marked, now=100.0)
    read = ReadKeyMessage("Q1", "C1", "1795000000.000100", "UASHA")
    due = await store.due_effects(now=100.0, limit=10, busy=[], lane="slack")
    assert sorted((r.effect for r in due), key=lambda effect: effect.kind) == [OpenIncidentChannel("Q1"), read]
    [reading] = [r for r in due if r.effect == read]
    assert await store.effect_retry(reading.seq, next_attempt_at=160.0, error="conversations.history: ratelimited")
    assert [r.effect for r in await store.due_effects(now=100.0, limit=10, busy=[], lane="slack")] == [
        OpenIncidentChannel("Q1")]
    assert read in [r.effect for r in await store.due_effects(now=160.0, limit=10, busy=[], lane="slack")]
