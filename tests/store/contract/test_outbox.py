"""The Outbox port: one effect at a time per queue, in order, most urgent first; attempts counted before they are
made; dead effects kept with their alert; scheduled refreshes and syncs never queued twice."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.domain.effects import AlertOperators
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import DraftReview, OpenIncidentChannel, PostTimelineEntry, RefreshCard
from bot.ports.store import Store, TicketRow
from tests.store.contract.builders import commit, drain, note, resolve, trigger


async def test_effects_run_in_order_per_incident_and_high_urgency_first(store: Store) -> None:
    await commit(store, trigger("LOW", number=1, urgency="low", priority=None),
                 trigger("HIGH", number=2, urgency="high"), now=100.0)
    due = await store.due_effects(now=100.0, limit=10, busy=[])
    # One effect per incident (the next in its order), the high-urgency incident's first.
    assert [(r.effect.incident_id, type(r.effect)) for r in due] == [("HIGH", OpenIncidentChannel),
                                                                     ("LOW", OpenIncidentChannel)]
    assert await store.due_effects(now=100.0, limit=10, busy=["slack:HIGH", "slack:LOW"]) == []
    assert await store.due_effects(now=100.0, limit=1, busy=[]) == due[:1]
    await store.effect_done(due[0].seq)
    await store.effect_retry(due[1].seq, next_attempt_at=200.0, error="429")
    later = await store.due_effects(now=150.0, limit=10, busy=[])
    # LOW's channel waits for its retry, and its timeline entry waits behind it.
    assert [(r.effect.incident_id, type(r.effect)) for r in later] == [("HIGH", PostTimelineEntry)]
    await store.effect_done(later[0].seq)
    assert [type(r.effect) for r in await store.due_effects(now=200.0, limit=10, busy=[])] == [OpenIncidentChannel]


async def test_nothing_pending_has_no_next_due_time(store: Store) -> None:
    assert await store.next_effect_due_at() is None
    await store.queue_effect(RefreshCard("Q1"), now=5.0)
    assert await store.next_effect_due_at() == 5.0
    await drain(store)
    assert await store.next_effect_due_at() is None
    assert (await store.depths())["outbox_pending"] == 0


async def test_an_attempt_is_counted_when_claimed_and_the_created_time_is_kept(store: Store) -> None:
    await store.queue_effect(RefreshCard("Q1"), now=5.0)
    [row] = await store.due_effects(now=5.0, limit=10, busy=[])
    assert (row.attempts, row.created_at) == (0, 5.0)
    assert await store.claim_effect(row.seq, owner="replica-a", now=5.0, lease_seconds=30.0)
    assert await store.effect_retry(row.seq, next_attempt_at=6.0, error="timeout", owner="replica-a")
    [again] = await store.due_effects(now=6.0, limit=10, busy=[])
    assert (again.seq, again.attempts, again.created_at) == (row.seq, 1, 5.0)


async def test_a_refusal_for_rate_limiting_is_counted_apart_with_the_time_of_the_first(store: Store) -> None:
    # The dispatcher counts the other attempts only, and gives up on refusals by time: the claim says both.
    await store.queue_effect(RefreshCard("Q1"), now=5.0)
    for now, rate_limited_at in ((5.0, 5.0), (6.0, None), (7.0, 7.0), (8.0, 8.0)):
        claimed = await store.claim_due_effects(now, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0)
        [row] = claimed["slack"]
        assert await store.effect_retry(row.seq, next_attempt_at=now + 1, error="slack: ratelimited",
                                        owner="replica-a", rate_limited_at=rate_limited_at)
    [again] = await store.due_effects(now=9.0, limit=10, busy=[])
    # Four attempts, three of them refused; the first refusal at 5 (a retry that was no failure, a stop's
    # cancellation, does not move it).
    assert (again.attempts, again.rate_limits, again.rate_limited_since) == (4, 3, 5.0)
    claimed = await store.claim_due_effects(9.0, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0)
    assert [(r.attempts, r.rate_limits, r.rate_limited_since) for r in claimed["slack"]] == [(4, 3, 5.0)]


async def test_a_failure_of_another_kind_ends_the_run_of_refusals(store: Store) -> None:
    # Refused at 5, failed otherwise at 6 (the service answered: it no longer refused), refused again at 7: the
    # refusals are timed from 7, and the count of refusals (not attempts) is kept.
    await store.queue_effect(RefreshCard("Q1"), now=5.0)
    for now, rate_limited_at, failed in ((5.0, 5.0, False), (6.0, None, True), (7.0, 7.0, False)):
        claimed = await store.claim_due_effects(now, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0)
        [row] = claimed["slack"]
        assert await store.effect_retry(row.seq, next_attempt_at=now + 1, error="slack: failed", owner="replica-a",
                                        rate_limited_at=rate_limited_at, failed=failed)
        if failed:
            [between] = await store.due_effects(now=now + 1, limit=10, busy=[])
            assert (between.rate_limits, between.rate_limited_since) == (1, None)
    [again] = await store.due_effects(now=9.0, limit=10, busy=[])
    assert (again.attempts, again.rate_limits, again.rate_limited_since) == (3, 2, 7.0)


async def test_a_refusal_of_our_credentials_is_counted_apart_and_ends_the_run_of_rate_limits(store: Store) -> None:
    # Refused for rate limiting at 5, then Slack refuses the bot's token at 6 and 7 (the service answered otherwise:
    # a later 429 is timed from itself): two refusals the dispatcher does not count, nor bound.
    await store.queue_effect(RefreshCard("Q1"), now=5.0)
    for now, rate_limited_at, credentials in ((5.0, 5.0, False), (6.0, None, True), (7.0, None, True)):
        claimed = await store.claim_due_effects(now, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0)
        [row] = claimed["slack"]
        assert await store.effect_retry(row.seq, next_attempt_at=now + 1, error="slack: token_revoked",
                                        owner="replica-a", rate_limited_at=rate_limited_at,
                                        failed=rate_limited_at is None, credentials_refused=credentials)
    [again] = await store.due_effects(now=9.0, limit=10, busy=[])
    assert (again.attempts, again.rate_limits, again.credentials_refusals, again.rate_limited_since) == (3, 1, 2, None)
    claimed = await store.claim_due_effects(9.0, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0)
    assert [(r.attempts, r.credentials_refusals) for r in claimed["slack"]] == [(3, 2)]


async def test_a_dead_effect_is_kept_with_its_error_and_its_alert_is_queued(store: Store) -> None:
    await commit(store, trigger("Q1"))
    [opening] = await store.due_effects(now=100.0, limit=10, busy=[])
    assert await store.claim_effect(opening.seq, owner="replica-a", now=100.0, lease_seconds=30.0)
    await store.effect_dead(opening.seq, "channel_not_found", AlertOperators("operators", "could not open"),
                            now=100.0)
    dead = await store.dead_effects()
    assert [(d["seq"], d["incident_id"], d["kind"], d["attempts"], d["last_error"]) for d in dead] == [
        (opening.seq, "Q1", "open_incident_channel", 1, "channel_not_found")]
    assert await store.dead_effects("Q2") == []
    assert [d["seq"] for d in await store.dead_effects("Q1")] == [opening.seq]
    assert (await store.depths())["outbox_dead"] == 1
    # The dead effect no longer holds up its queue; the alert has a queue of its own.
    assert [r.effect for r in await store.due_effects(now=100.0, limit=10, busy=[])][1:] == [
        AlertOperators("operators", "could not open")]
    assert [type(e) for e in await drain(store)] == [PostTimelineEntry, AlertOperators]


async def test_a_dead_effect_may_queue_no_alert(store: Store) -> None:
    await store.queue_effect(AlertOperators("operators", "first"), now=1.0)
    [alert] = await store.due_effects(now=1.0, limit=10, busy=[])
    await store.effect_dead(alert.seq, "channel_not_found", None, now=1.0)
    assert await drain(store) == []
    assert [d["kind"] for d in await store.dead_effects()] == ["alert_operators"]


async def test_only_the_latest_dead_effects_are_read_when_asked(store: Store) -> None:
    for n in range(5):
        await store.queue_effect(AlertOperators("operators", f"alert {n}"), now=float(n))
        [row] = await store.due_effects(now=10.0, limit=10, busy=[])  # one queue: its head, until it is dead
        await store.effect_dead(row.seq, f"failed {row.seq}", None, now=10.0)
    every = [d["seq"] for d in await store.dead_effects()]
    assert len(every) == 5 and every == sorted(every)
    assert [d["seq"] for d in await store.dead_effects(latest=2)] == every[-2:]  # the newest, oldest first
    assert [d["seq"] for d in await store.dead_effects(latest=20)] == every
    assert await store.dead_effects("Q1", latest=2) == []


async def test_pending_in_queue_counts_what_waits_there(store: Store) -> None:
    await store.queue_effect(SyncTicket("Q1"), now=1.0)
    await store.queue_effect(SyncTicket("Q1"), now=1.0)
    await store.queue_effect(RefreshCard("Q1"), now=1.0)
    assert await store.pending_in_queue("servicenow:Q1") == 2
    assert await store.pending_in_queue("slack:Q1") == 1
    await drain(store)
    assert await store.pending_in_queue("servicenow:Q1") == 0


async def test_card_refreshes_are_queued_for_open_incidents_without_one_waiting(store: Store) -> None:
    opened = trigger("Q1", number=1)
    closed = trigger("Q2", number=2)
    assert closed.incident is not None
    await commit(store, opened, closed, resolve(closed.incident))
    # While the channel is still being opened, a refresh would add nothing; a resolved incident gets none.
    assert await store.queue_card_refreshes(now=2.0) == 0
    await drain(store)
    assert await store.queue_card_refreshes(now=3.0) == 1
    assert await store.queue_card_refreshes(now=4.0) == 0
    assert await drain(store) == [RefreshCard("Q1")]


async def test_card_refreshes_can_be_asked_for_some_incidents_only(store: Store) -> None:
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2), trigger("Q3", number=3))
    await drain(store)
    assert await store.queue_card_refreshes(now=1.0, only=[]) == 0
    assert await store.queue_card_refreshes(now=1.0, only=["Q1", "Q3"]) == 2
    assert sorted(e.incident_id for e in await drain(store)) == ["Q1", "Q3"]


async def test_a_scheduled_refresh_comes_after_an_events_effects(store: Store) -> None:
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2, urgency="low", priority=None))
    await drain(store)
    await store.queue_card_refreshes(now=1.0, only=["Q1"])
    await store.queue_effect(PostTimelineEntry("Q2", "e1"), now=2.0)
    assert [r.effect.incident_id for r in await store.due_effects(now=2.0, limit=10, busy=[])] == ["Q2", "Q1"]


async def test_ticket_syncs_are_queued_for_tickets_with_untold_lines_once(store: Store) -> None:
    await commit(store, note("Q1", "n1", minute=1), note("Q2", "n2", minute=1),
                 note("Q3", "from-servicenow", minute=1, kind="servicenow_state"))
    for incident_id in ("Q1", "Q3"):
        await store.save_ticket(TicketRow(incident_id, f"sys-{incident_id}", f"INC{incident_id}", "https://sn"))
    # Q2 has no ticket; Q3's only line came from ServiceNow itself.
    assert await store.queue_ticket_syncs(now=1.0) == 1
    assert await store.queue_ticket_syncs(now=2.0) == 0
    assert await drain(store) == [SyncTicket("Q1")]
    await store.mark_noted(["n1"])
    assert await store.queue_ticket_syncs(now=3.0) == 0


async def test_effects_finished_together_are_each_marked_done_once_and_only_by_their_holder(store: Store) -> None:
    # Many effects finishing at once (the SQLite store commits them together): each caller hears its own outcome.
    await asyncio.gather(*(store.queue_effect(RefreshCard(f"Q{n}"), now=5.0) for n in range(12)))
    due = await store.due_effects(now=5.0, limit=20, busy=[])
    assert len(due) == 12
    for row in due:
        assert await store.claim_effect(row.seq, owner="replica-a", now=5.0, lease_seconds=30.0)
    owners = ["replica-a"] * 10 + ["replica-b"] * 2  # the last two are not replica-b's to finish
    outcomes = await asyncio.gather(*(store.effect_done(row.seq, owner=owner) for row, owner in zip(due, owners,
                                                                                                  strict=True)))
    assert outcomes == [True] * 10 + [False] * 2
    assert [r.seq for r in await store.due_effects(now=100.0, limit=20, busy=[])] == [r.seq for r in due[10:]]
    assert (await store.depths())["outbox_pending"] == 2


async def test_a_review_drafted_after_a_resolve_is_due_a_minute_after_it_and_holds_up_nothing(store: Store) -> None:
    """The resolve's own decision queues the draft (in its transaction: nothing between the two can lose it), due a
    minute on; its queue is its own, so the incident's Slack work behind it runs at once."""
    opened = trigger("Q1")
    assert opened.incident is not None
    resolved = resolve(opened.incident)
    draft = DraftReview("Q1", after_resolve=True)
    await commit(store, opened, replace(resolved, effects=(*resolved.effects, draft)), now=100.0)
    before = [row.effect for row in await store.due_effects(159.0, limit=100, busy=[])]
    assert draft not in before and any(isinstance(e, OpenIncidentChannel) for e in before)
    assert draft in [row.effect for row in await store.due_effects(160.0, limit=100, busy=[])]
    [row] = [r for r in await store.due_effects(160.0, limit=100, busy=[]) if r.effect == draft]
    assert row.created_at == 160.0  # the draft's "as of" time is when it is due, as before
