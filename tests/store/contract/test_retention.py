"""The StoreRetention port: settled bookkeeping older than the cutoff is pruned in batches of at most `limit` rows a
table; work still to do or to look at (pending or quarantined deliveries, pending, leased or dead effects) and the
history (incidents, timelines) are never pruned, however old."""

from __future__ import annotations

import time

from bot.domain.effects import AlertOperators
from bot.domain.effects.slack import RefreshCard
from bot.domain.incident import Decision, Incident
from bot.ports.retention import PRUNED_TABLES
from bot.ports.store import InboxRow, Skip, Store
from tests.store.contract.builders import commit, deliver, trigger

DAY = 86_400.0
HOUR = 3_600.0


def nothing(**pruned: int) -> dict[str, int]:
    """The answer of a batch: these tables' counts, every other table 0."""
    return {table: pruned.get(table, 0) for table in PRUNED_TABLES}


async def test_settled_rows_are_pruned_and_pending_quarantined_and_dead_ones_are_kept(store: Store) -> None:
    # Inbox: one delivery applied (Q1's trigger), one ignored, one quarantined, one still pending.
    opening = trigger("Q1")
    await commit(store, opening, now=100.0)
    for delivery in ("ignored", "quarantined"):
        assert await deliver(store, delivery, incident_id=None, body=delivery)

    def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        return Skip("ignored", "not ours") if row.body == "ignored" else Skip("failed", "cannot be read")
    assert await store.apply_pending(decide, now=100.0) == []
    assert await deliver(store, "pending", incident_id=None)
    # Outbox: Q1's channel opened (done), its line's post dead, the quarantine's alert leased, a refresh pending.
    due = await store.due_effects(now=100.0, limit=10, busy=[])
    channel = next(r for r in due if r.effect.kind == "open_incident_channel")
    alert = next(r for r in due if r.effect.kind == "alert_operators")
    await store.effect_done(channel.seq)
    [post] = await store.due_effects(now=100.0, limit=10, busy=[alert.effect.queue])
    await store.effect_dead(post.seq, "channel_not_found", None, now=100.0)
    assert await store.claim_effect(alert.seq, owner="replica-a", now=100.0, lease_seconds=DAY * 1000)
    await store.queue_effect(RefreshCard("Q1"), now=100.0)

    # Years later, everything older than now is past retention.
    later = time.time() + 60
    assert await store.prune(settled_before=later, now=later, limit=500) == nothing(inbox=2, outbox=1)
    assert await store.prune(settled_before=later, now=later, limit=500) == nothing()
    assert await store.depths() == {"inbox_pending": 1, "inbox_failed": 1, "outbox_pending": 2, "outbox_dead": 1}
    assert [f.reason for f in await store.failed_deliveries()] == ["cannot be read"]
    assert [d["seq"] for d in await store.dead_effects()] == [post.seq]
    # The pending delivery is still a duplicate if sent again; the applied one's ids are forgotten.
    assert not await deliver(store, "pending", incident_id=None)
    assert await deliver(store, "ignored", incident_id=None)
    # The lease holds, and the refresh is still to do.
    assert await store.renew_lease(alert.seq, owner="replica-a", now=later, lease_seconds=30.0)
    assert [r.effect for r in await store.due_effects(now=later, limit=10, busy=[])] == [RefreshCard("Q1")]
    # The history is kept.
    assert await store.incident("Q1") == opening.incident
    assert opening.entry is not None
    assert [e.id for e in await store.timeline("Q1")] == [opening.entry.id]


async def test_only_rows_settled_before_the_cutoff_are_pruned(store: Store) -> None:
    for queued_at in (1000.0, 5000.0):
        await store.queue_effect(AlertOperators("operators", f"at {queued_at}"), now=queued_at)
        [row] = await store.due_effects(now=queued_at, limit=10, busy=[])
        await store.effect_done(row.seq)
    await commit(store, trigger("Q1"), now=1000.0)
    received = time.time()
    assert await store.prune(settled_before=500.0, now=2000.0, limit=500) == nothing()
    assert await store.prune(settled_before=2000.0, now=2000.0, limit=500) == nothing(outbox=1)
    # The delivery was received just now (by the store's clock): an hour before now, it was not there yet.
    assert await store.prune(settled_before=received - 3600, now=2000.0, limit=500) == nothing(outbox=1)
    assert await store.prune(settled_before=received + 60, now=2000.0, limit=500) == nothing(inbox=1)


async def test_a_batch_prunes_at_most_limit_rows_of_each_table(store: Store) -> None:
    for n in range(5):
        await store.queue_effect(AlertOperators("operators", f"alert {n}"), now=100.0)
        [row] = await store.due_effects(now=100.0, limit=10, busy=[])
        await store.effect_done(row.seq)
        assert await deliver(store, f"d{n}", incident_id=None)
    await store.apply_pending(lambda row, incident: Skip("ignored", "not ours"), now=100.0)
    later = time.time() + 60
    batches = [await store.prune(settled_before=later, now=200.0, limit=2) for _ in range(4)]
    assert batches == [nothing(inbox=2, outbox=2), nothing(inbox=2, outbox=2), nothing(inbox=1, outbox=1),
                       nothing()]


async def test_expired_dedup_keys_old_job_claims_and_idle_rate_buckets_are_pruned(store: Store) -> None:
    assert await store.first_time("U1:ack:Q1", 10, now=100.0)
    assert await store.first_time("U1:ack:Q2", 1000, now=100.0)
    assert await store.claim_job("refresh-open-cards", 1, "replica-a", now=100.0)
    assert await store.take_token("slack:chat.postMessage", rate=1.0, burst=1.0, now=100.0) == 0.0
    # Nothing has expired or gone idle yet: the key's window, the slot's claim and the bucket's debt all hold.
    assert await store.prune(settled_before=0.0, now=105.0, limit=500) == nothing()
    assert not await store.first_time("U1:ack:Q1", 10, now=105.0)
    assert not await store.claim_job("refresh-open-cards", 1, "replica-b", now=105.0)
    assert await store.take_token("slack:chat.postMessage", rate=1.0, burst=1.0, now=100.5) == 0.5
    # The first key's window has ended; the slot's claim still holds well past any late firing of its slot (the
    # misfire graces are at most 10 minutes).
    assert await store.prune(settled_before=0.0, now=1000.0, limit=500) == nothing(seen_once=1)
    assert not await store.claim_job("refresh-open-cards", 1, "replica-b", now=1000.0)
    assert not await store.first_time("U1:ack:Q2", 1000, now=200.0)
    # An hour on, the claim is old and the bucket idle (full again).
    assert await store.prune(settled_before=0.0, now=101.0 + HOUR, limit=500) == nothing(seen_once=1, job_runs=1,
                                                                                          rate_buckets=1)
    assert await store.take_token("slack:chat.postMessage", rate=1.0, burst=1.0, now=101.0 + HOUR) == 0.0
