"""Replicas sharing one store: two store instances on the same data, used at once, are two replicas of the bot.

Inbox rows are applied exactly once and in order per incident whoever applies them; an effect is leased to one
replica at a time, taken over when its lease runs out, and the replica that lost it cannot undo the new holder's work;
a scheduled job's slot is run by one replica; Slack's rate budget is one bucket for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from bot.domain.effects import AlertOperators
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry, RefreshCard
from bot.domain.incident import Decision, Incident
from bot.ports.store import InboxRow, OutboxRow, Store
from tests.store.contract.builders import commit, deliver, trigger

LEASE = 30.0
A, B = "replica-a", "replica-b"


@pytest.fixture
async def replicas(make_store: Callable[[], Store]) -> AsyncIterator[tuple[Store, Store]]:
    one, two = make_store(), make_store()
    await one.open()
    await two.open()
    yield one, two
    await two.close()
    await one.close()


# -- the inbox ------------------------------------------------------------------------------------------------


async def test_two_replicas_applying_at_once_apply_each_row_once_and_in_order_per_incident(
        replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    incidents, events = [f"Q{n}" for n in range(1, 5)], 12
    for k in range(events):
        for incident_id in incidents:
            await deliver(one, f"{incident_id}-{k}", incident_id=incident_id, body=str(k))
    opened = {i: trigger(i, number=n).incident for n, i in enumerate(incidents, start=1)}

    def decide(row: InboxRow, incident: Incident | None) -> Decision:
        # Each row appends its number to the incident's title: a row applied twice, or out of order, shows there.
        assert row.incident_id is not None
        known = incident or opened[row.incident_id]
        assert known is not None
        return Decision(replace(known, title=f"{known.title}|{row.body}"), None, ())

    async def worker(store: Store) -> int:
        applied = 0
        while batch := await store.apply_pending(decide, now=1.0, limit=3):
            applied += len(batch)
            await asyncio.sleep(0)
        return applied

    counts = await asyncio.gather(*(worker(store) for store in (one, two, one, two)))
    assert sum(counts) == len(incidents) * events
    for incident_id in incidents:
        stored = await two.incident(incident_id)
        expected = opened[incident_id]
        assert stored is not None and expected is not None
        assert stored.title == expected.title + "".join(f"|{k}" for k in range(events))
    assert (await one.depths())["inbox_pending"] == 0


# -- outbox leases --------------------------------------------------------------------------------------------


async def test_a_claimed_effect_and_the_ones_behind_it_are_offered_to_no_other_replica_while_leased(
        replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    await commit(one, trigger("Q1"))
    [opening] = await one.due_effects(now=100.0, limit=10, busy=[])
    assert await one.claim_effect(opening.seq, owner=A, now=100.0, lease_seconds=LEASE)
    # The channel is being opened by A: B is offered neither it nor the timeline post queued behind it.
    assert await two.due_effects(now=129.0, limit=10, busy=[]) == []
    assert not await two.claim_effect(opening.seq, owner=B, now=129.0, lease_seconds=LEASE)
    assert await one.effect_done(opening.seq, owner=A)
    [post] = await two.due_effects(now=129.0, limit=10, busy=[])
    assert isinstance(opening.effect, OpenIncidentChannel) and isinstance(post.effect, PostTimelineEntry)


async def test_concurrent_claims_of_one_effect_give_it_to_exactly_one_replica(
        replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    await one.queue_effect(RefreshCard("Q1"), now=1.0)
    [row] = await two.due_effects(now=1.0, limit=10, busy=[])
    claims = await asyncio.gather(*(store.claim_effect(row.seq, owner=f"{name}{n}", now=1.0, lease_seconds=LEASE)
                                    for n in range(5) for store, name in ((one, A), (two, B))))
    assert claims.count(True) == 1
    [again] = await one.due_effects(now=1.0 + LEASE, limit=10, busy=[])
    assert again.attempts == 1  # one attempt begun, whoever began it


async def test_a_dead_replicas_effect_is_taken_over_when_its_lease_ends_and_the_loser_cannot_undo_it(
        replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    await commit(one, trigger("Q1"))
    [opening] = await one.due_effects(now=100.0, limit=10, busy=[])
    assert await one.claim_effect(opening.seq, owner=A, now=100.0, lease_seconds=LEASE)
    # A stops (killed, paused, cut off): once its lease has run out, B takes the effect over, as a retry.
    [taken] = await two.due_effects(now=100.0 + LEASE, limit=10, busy=[])
    assert (taken.seq, taken.attempts) == (opening.seq, 1)
    assert await two.claim_effect(taken.seq, owner=B, now=100.0 + LEASE, lease_seconds=LEASE)
    # A comes back and reports on its lost attempt: nothing it says changes B's effect, and no alert is queued.
    assert not await one.renew_lease(opening.seq, owner=A, now=131.0, lease_seconds=LEASE)
    assert not await one.effect_retry(opening.seq, next_attempt_at=500.0, error="timeout", owner=A)
    assert not await one.effect_dead(opening.seq, "timeout", AlertOperators("operators", "lost"), now=131.0,
                                     owner=A)
    assert not await one.effect_done(opening.seq, owner=A)
    assert await one.due_effects(now=131.0, limit=10, busy=[]) == []  # still B's, still leased
    assert await two.effect_done(taken.seq, owner=B)
    assert [type(r.effect) for r in await one.due_effects(now=131.0, limit=10, busy=[])] == [PostTimelineEntry]
    assert await one.dead_effects() == []


async def test_an_effect_whose_last_attempt_never_said_how_it_ended_is_claimed_as_cut_short(
        replicas: tuple[Store, Store]) -> None:
    """A replica killed (or stalled past its lease) mid-call never records its attempt's outcome: the effect's next
    claim says so (`cut_short`: what the call did outside is unknown) — after its lease ran out, and after a replica
    restarted under the same id lapsed its previous run's leases. An attempt that recorded its outcome (a retry), or
    whose replica let it go as it stopped, is not."""
    one, two = replicas
    await one.queue_effect(RefreshCard("Q1"), now=1.0)
    [row] = await one.due_effects(now=1.0, limit=10, busy=[])
    assert not row.cut_short  # never attempted
    assert await one.claim_effect(row.seq, owner=A, now=1.0, lease_seconds=LEASE)
    claimed = await two.claim_due_effects(1.0 + LEASE, {"slack": 4}, [], owner=B, lease_seconds=LEASE)
    [taken] = claimed["slack"]
    assert taken.seq == row.seq and taken.cut_short  # A's lease ran out
    assert await two.effect_retry(row.seq, next_attempt_at=40.0, error="timeout", owner=B)
    [retried] = await one.due_effects(now=40.0, limit=10, busy=[])
    assert not retried.cut_short  # B recorded how its attempt ended
    assert await one.claim_effect(row.seq, owner=A, now=40.0, lease_seconds=LEASE)
    assert await one.lapse_leases(A) == 1 and await one.lapse_leases(A) == 0  # A restarted: its leases end at once
    assert await two.lapse_leases(B) == 0  # (another replica's are left alone)
    [resumed] = await two.due_effects(now=41.0, limit=10, busy=[])
    assert resumed.cut_short
    assert await one.claim_effect(row.seq, owner=A, now=41.0, lease_seconds=LEASE)
    assert await one.release_leases(A) == 1  # let go as A stopped, its call's outcome recorded or left to others
    [released] = await two.due_effects(now=42.0, limit=10, busy=[])
    assert not released.cut_short


async def test_a_long_effect_renews_its_lease_and_keeps_it(replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    await one.queue_effect(RefreshCard("Q1"), now=1.0)
    [row] = await one.due_effects(now=1.0, limit=10, busy=[])
    assert await one.claim_effect(row.seq, owner=A, now=1.0, lease_seconds=LEASE)
    assert await one.renew_lease(row.seq, owner=A, now=25.0, lease_seconds=LEASE)
    assert await two.due_effects(now=40.0, limit=10, busy=[]) == []  # past the first lease, within the renewed one
    assert await two.next_effect_due_at() == 25.0 + LEASE
    assert await one.effect_retry(row.seq, next_attempt_at=60.0, error="429", owner=A)
    # Let go by its retry: due again at its retry time, for any replica.
    assert await two.due_effects(now=59.0, limit=10, busy=[]) == []
    assert not await two.claim_effect(row.seq, owner=B, now=59.0, lease_seconds=LEASE)  # not due yet
    assert await two.claim_effect(row.seq, owner=B, now=60.0, lease_seconds=LEASE)
    assert await two.effect_dead(row.seq, "gone", AlertOperators("operators", "gave up"), now=60.0, owner=B)
    assert [d["attempts"] for d in await one.dead_effects()] == [2]
    [alert] = await one.due_effects(now=60.0, limit=10, busy=[])
    assert alert.effect == AlertOperators("operators", "gave up")


async def test_a_restarted_replica_releases_the_leases_of_its_previous_run_and_only_those(
        replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    await one.queue_effect(RefreshCard("Q1"), now=1.0)
    await one.queue_effect(RefreshCard("Q2"), now=1.0)
    first, second = await one.due_effects(now=1.0, limit=10, busy=[])
    assert await one.claim_effect(first.seq, owner=A, now=1.0, lease_seconds=LEASE)
    assert await two.claim_effect(second.seq, owner=B, now=1.0, lease_seconds=LEASE)
    # A was killed and starts again under the same id: its effect is offered at once, B's stays B's.
    assert await one.release_leases(A) == 1
    assert [r.seq for r in await two.due_effects(now=2.0, limit=10, busy=[])] == [first.seq]
    assert await one.release_leases(A) == 0
    assert await two.effect_done(second.seq, owner=B)


async def test_a_dispatcher_frees_its_leases_but_those_it_keeps(replicas: tuple[Store, Store]) -> None:
    """A dispatcher whose store refused an effect's outcome frees its leases except those of effects still running
    there (`keep`): the refused one is offered again at once, the running ones stay its own."""
    one, two = replicas
    for incident in ("Q1", "Q2", "Q3"):
        await one.queue_effect(RefreshCard(incident), now=1.0)
    rows = await one.due_effects(now=1.0, limit=10, busy=[])
    for row in rows:
        assert await one.claim_effect(row.seq, owner=A, now=1.0, lease_seconds=LEASE)
    refused, *running = rows
    assert await one.release_leases(A, keep=[r.seq for r in running]) == 1
    assert [r.seq for r in await two.due_effects(now=2.0, limit=10, busy=[])] == [refused.seq]
    assert await one.release_leases(A, keep=[running[0].seq]) == 1
    assert [r.seq for r in await two.due_effects(now=2.0, limit=10, busy=[])] == [refused.seq, running[1].seq]
    assert await one.effect_done(running[0].seq, owner=A)


async def test_only_the_first_effect_of_a_queue_can_be_claimed(replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    await commit(one, trigger("Q1"))
    [opening] = await one.due_effects(now=100.0, limit=10, busy=[])
    # The post behind the channel opening, claimed from a stale or hand-made read, is refused: order holds.
    assert not await two.claim_effect(opening.seq + 1, owner=B, now=100.0, lease_seconds=LEASE)
    assert await one.claim_effect(opening.seq, owner=A, now=100.0, lease_seconds=LEASE)


# -- scheduled jobs -------------------------------------------------------------------------------------------


async def test_a_jobs_slot_is_claimed_by_exactly_one_replica(replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    claims = await asyncio.gather(*(store.claim_job("refresh-open-cards", 7, name, now=2100.0)
                                    for store, name in ((one, A), (two, B), (one, A), (two, B))))
    assert claims.count(True) == 1
    assert await two.claim_job("refresh-open-cards", 8, B, now=2400.0)  # the next slot is anyone's
    assert await one.claim_job("flush-work-notes", 8, A, now=2400.0)  # another job's slot is its own
    assert not await one.claim_job("refresh-open-cards", 8, A, now=2401.0)


# -- the shared rate budget -----------------------------------------------------------------------------------


async def test_replicas_share_one_token_bucket_per_key(replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    waits = await asyncio.gather(*(store.take_token("chat.update", 1.0, 3.0, now=0.0)
                                   for store in (one, two) * 5))
    assert sorted(waits)[:3] == [0.0, 0.0, 0.0] and all(w > 0 for w in sorted(waits)[3:])
    assert await one.take_token("chat.update", 1.0, 3.0, now=0.5) == pytest.approx(0.5)
    assert await two.take_token("chat.update", 1.0, 3.0, now=1.0) == 0.0  # refilled at 1 a second
    assert await one.take_token("chat.update", 1.0, 3.0, now=1.0) == pytest.approx(1.0)
    assert await two.take_token("pins.add", 1.0, 3.0, now=1.0) == 0.0  # another method's bucket is its own
    assert await one.take_token("chat.update", 1.0, 3.0, now=100.0) == 0.0  # refilled, never beyond the burst
    assert await one.take_token("chat.update", 1.0, 3.0, now=100.0) == 0.0
    assert await one.take_token("chat.update", 1.0, 3.0, now=100.0) == 0.0
    assert await one.take_token("chat.update", 1.0, 3.0, now=100.0) == pytest.approx(1.0)


async def test_replicas_taking_batches_at_once_share_one_budget(replicas: tuple[Store, Store]) -> None:
    one, two = replicas
    # Two replicas' scheduled jobs at the same instant, each wanting the whole minute's budget of 40.
    taken = await asyncio.gather(*(store.take_up_to("scheduled:card-refreshes", 40, 40 / 60, 40, now=0.0)
                                   for store in (one, two, one, two)))
    assert sum(taken) == 40 and sorted(taken) == [0, 0, 0, 40]
    assert await one.take_up_to("scheduled:card-refreshes", 40, 40 / 60, 40, now=30.0) == 20  # half a minute's
    assert await two.take_up_to("scheduled:card-refreshes", 40, 40 / 60, 40, now=30.0) == 0
    assert await two.take_up_to("scheduled:card-refreshes", 5, 40 / 60, 40, now=90.0) == 5  # at most what is wanted
    assert await one.take_up_to("scheduled:card-refreshes", 40, 40 / 60, 40, now=90.0) == 35
    assert await one.take_up_to("scheduled:card-refreshes", 0, 40 / 60, 40, now=1000.0) == 0
    assert await one.take_up_to("scheduled:card-refreshes", 99, 40 / 60, 40, now=1000.0) == 40  # never beyond burst
    # A batch and single takes draw on the same bucket.
    assert await two.take_up_to("chat.update", 2, 1.0, 3.0, now=0.0) == 2
    assert await one.take_token("chat.update", 1.0, 3.0, now=0.0) == 0.0
    assert await one.take_token("chat.update", 1.0, 3.0, now=0.0) == pytest.approx(1.0)


async def test_a_bucket_refuses_a_rate_it_cannot_keep(store: Store) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        await store.take_token("chat.update", 0.0, 3.0, now=0.0)
    with pytest.raises(ValueError, match="rate must be positive"):
        await store.take_up_to("chat.update", 2, 0.0, 3.0, now=0.0)


async def test_a_queue_keeps_its_head_while_one_replica_queues_and_another_completes(
        replicas: tuple[Store, Store]) -> None:
    # Each queue's first pending effect is marked as its head; a replica queueing behind the head while another
    # completes it must not leave the new effect without one (nothing would ever offer it).
    one, two = replicas
    queues = [f"Q{q}" for q in range(4)]
    entries = [f"e{n:02d}" for n in range(30)]

    async def queue_them(incident_id: str) -> None:
        for entry in entries:
            await one.queue_effect(PostTimelineEntry(incident_id, entry), now=1.0)

    async def complete(row: OutboxRow) -> tuple[str, str]:
        assert await two.claim_effect(row.seq, owner=B, now=2.0, lease_seconds=LEASE)
        assert await two.effect_done(row.seq, owner=B)
        assert isinstance(row.effect, PostTimelineEntry)
        return row.effect.incident_id, row.effect.entry_id

    async def complete_them() -> list[tuple[str, str]]:
        done: list[tuple[str, str]] = []
        while len(done) < len(entries) * len(queues):
            done += await asyncio.gather(*(complete(row) for row in
                                           await two.due_effects(now=2.0, limit=10, busy=[])))
            await asyncio.sleep(0)
        return done

    queueing = asyncio.gather(*(queue_them(q) for q in queues))
    async with asyncio.timeout(30):
        done = await complete_them()
    await queueing
    for q in queues:
        assert [entry for incident_id, entry in done if incident_id == q] == entries
        assert await one.pending_in_queue(f"slack:{q}") == 0
