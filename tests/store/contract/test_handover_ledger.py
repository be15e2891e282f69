"""The HandoverLedger port: a shift boundary is claimed once however many claims race, notes go to the handover that
showed them, only notes left before a boundary are shown in its handover, and the backlog it reports is the
outbox's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.domain.effects import OPERATORS, AlertOperators
from bot.domain.effects.pagerduty import CompleteHandover
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import PostHandover, RefreshCard
from bot.ports.handover_ledger import ROTA_REMOVED, EffectHolder
from bot.ports.store import POSTED, QUEUED, SKIPPED, Store
from tests.store.contract.builders import commit, trigger

BOUNDARY = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
KEY = "payments:2026-11-27T17:30:00+00:00"


async def test_racing_claims_claim_once_and_queue_one_post(store: Store) -> None:
    effect = PostHandover("handover:payments", "payments", KEY)
    results = await asyncio.gather(*(store.claim(KEY, "payments", BOUNDARY, late=False, effect=effect, now=1.0)
                                     for _ in range(10)))
    assert results.count(True) == 1
    assert await store.last_boundary("payments") == BOUNDARY
    assert await store.pending_in_queue("slack:handover:payments") == 1
    row = await store.get(KEY)
    assert row is not None and (row.rota_id, row.boundary, row.late, row.state) == ("payments", BOUNDARY, False,
                                                                                    QUEUED)
    assert (row.outgoing, row.incoming, row.channel, row.ts) == (None, None, None, None)


async def test_a_skipped_boundary_counts_as_handled_without_a_post(store: Store) -> None:
    assert await store.claim(KEY, "payments", BOUNDARY, late=True, effect=None, now=1.0)
    assert await store.last_boundary("payments") == BOUNDARY
    assert await store.pending_in_queue("slack:handover:payments") == 0
    row = await store.get(KEY)
    assert row is not None and (row.state, row.late) == (SKIPPED, True)


async def test_the_last_boundary_is_the_latest_of_the_rota(store: Store) -> None:
    assert await store.last_boundary("payments") is None
    earlier = BOUNDARY - timedelta(hours=8)
    await store.claim(KEY, "payments", BOUNDARY, late=False, effect=None, now=1.0)
    await store.claim("payments:earlier", "payments", earlier, late=False, effect=None, now=2.0)
    await store.claim("basket:later", "basket", BOUNDARY + timedelta(hours=1), late=False, effect=None, now=3.0)
    assert await store.last_boundary("payments") == BOUNDARY
    assert await store.get("missing") is None


async def test_notes_are_shown_by_boundary_and_taken_only_by_the_post_that_showed_them(store: Store) -> None:
    assert await store.add_note("payments", "dev", "before", BOUNDARY - timedelta(hours=1)) == 1
    assert await store.add_note("payments", "dev", "after", BOUNDARY + timedelta(minutes=5)) == 2
    assert await store.add_note("basket", "asha", "other rota", BOUNDARY - timedelta(hours=1)) == 1
    await store.claim(KEY, "payments", BOUNDARY, late=False, effect=None, now=1.0)
    shown = await store.notes_for("payments", KEY, BOUNDARY)
    assert [(n.author, n.text, n.created_at) for n in shown] == [("dev", "before", BOUNDARY - timedelta(hours=1))]
    assert [n.text for n in await store.notes_of(KEY)] == []  # not taken until the post is saved
    follow_up = CompleteHandover("handover:payments", "payments", KEY)
    await store.save_post(KEY, channel="C1", ts="1.0", outgoing=[("P1", "Dev")], incoming=[("P2", "Chloe")],
                          notes=shown, follow_up=follow_up, now=2.0)
    assert [n.text for n in await store.notes_of(KEY)] == ["before"]
    assert [n.text for n in await store.notes_for("payments", KEY, BOUNDARY)] == ["before"]
    assert [n.text for n in await store.waiting_notes("payments")] == ["after"]
    assert await store.add_note("payments", "dev", "one more", BOUNDARY + timedelta(minutes=6)) == 2
    row = await store.get(KEY)
    assert row is not None and (row.state, row.outgoing, row.incoming, row.channel, row.ts) == (
        POSTED, (("P1", "Dev"),), (("P2", "Chloe"),), "C1", "1.0")
    assert await store.pending_in_queue(follow_up.queue) == 1


async def test_a_post_made_without_names_gets_them_later(store: Store) -> None:
    await store.claim(KEY, "payments", BOUNDARY, late=False, effect=None, now=1.0)
    await store.save_post(KEY, channel="C1", ts="1.0", outgoing=None, incoming=None, notes=[], follow_up=None,
                          now=2.0)
    row = await store.get(KEY)
    assert row is not None and (row.outgoing, row.incoming) == (None, None)
    await store.save_on_call(KEY, [("P1", "Dev"), ("P3", "Sam")], [])
    row = await store.get(KEY)
    assert row is not None and (row.outgoing, row.incoming, row.state) == ((("P1", "Dev"), ("P3", "Sam")), (),
                                                                           POSTED)


async def test_the_backlog_counts_dead_effects_and_servicenow_updates_waiting(store: Store) -> None:
    assert await store.backlog([]) == {}
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2))
    for row in await store.due_effects(now=100.0, limit=10, busy=["slack:Q2"]):
        await store.effect_dead(row.seq, "is_archived", None, now=100.0)
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    await store.queue_effect(RefreshCard("Q3"), now=100.0)
    backlog = await store.backlog(["Q1", "Q2", "Q3", "Q4"])
    assert backlog["Q1"] == (1, 2)
    assert {i: backlog.get(i, (0, 0)) for i in ("Q2", "Q3", "Q4")} == {"Q2": (0, 0), "Q3": (0, 0), "Q4": (0, 0)}


async def test_a_note_taken_by_one_handover_is_not_taken_again_by_another(store: Store) -> None:
    await store.add_note("payments", "dev", "once", BOUNDARY - timedelta(hours=1))
    later = "payments:2026-11-28T09:00:00+00:00"
    for key, boundary in ((KEY, BOUNDARY), (later, BOUNDARY + timedelta(hours=15, minutes=30))):
        await store.claim(key, "payments", boundary, late=False, effect=None, now=1.0)
    shown = await store.notes_for("payments", KEY, BOUNDARY)
    await store.save_post(KEY, channel="C1", ts="1.0", outgoing=[], incoming=[], notes=shown, follow_up=None, now=2.0)
    # Both handovers read the note before either was saved: the first to save takes it, the other does not.
    await store.save_post(later, channel="C1", ts="2.0", outgoing=[], incoming=[], notes=shown, follow_up=None,
                          now=3.0)
    assert [n.text for n in await store.notes_of(KEY)] == ["once"]
    assert await store.notes_of(later) == []


async def test_the_waiting_notes_of_several_rotas_are_read_together(store: Store) -> None:
    assert await store.waiting_notes_of([]) == {}
    await store.add_note("payments", "dev", "first", BOUNDARY - timedelta(hours=2))
    await store.add_note("basket", "asha", "basket's", BOUNDARY - timedelta(hours=1))
    await store.add_note("payments", "dev", "second", BOUNDARY - timedelta(minutes=30))
    await store.claim(KEY, "payments", BOUNDARY, late=False, effect=None, now=1.0)
    taken = await store.notes_for("payments", KEY, BOUNDARY - timedelta(hours=1))  # the first only
    await store.save_post(KEY, channel="C1", ts="1.0", outgoing=None, incoming=None, notes=taken, follow_up=None,
                          now=2.0)
    together = await store.waiting_notes_of(["payments", "basket", "search", "payments"])
    assert together == {"payments": await store.waiting_notes("payments"),
                        "basket": await store.waiting_notes("basket"), "search": []}
    assert [n.text for n in together["payments"]] == ["second"]
    assert [n.text for n in together["basket"]] == ["basket's"]


async def test_a_post_is_recorded_only_by_the_replica_still_holding_its_effect(store: Store) -> None:
    # A replica paused past its lease (another took the post over and recorded its own) came back and recorded its
    # post over the newer one, took the notes and queued a second follow-up: save_post never asked about the lease.
    effect = PostHandover("handover:payments", "payments", KEY)
    await store.add_note("payments", "dev", "before", BOUNDARY - timedelta(hours=1))
    assert await store.claim(KEY, "payments", BOUNDARY, late=False, effect=effect, now=1.0)
    [row] = await store.due_effects(2.0, 10, [])
    assert await store.claim_effect(row.seq, owner="paused", now=2.0, lease_seconds=60.0)
    assert await store.claim_effect(row.seq, owner="taker", now=63.0, lease_seconds=60.0)  # the lease ran out
    follow_up = CompleteHandover("handover:payments", "payments", KEY)
    notes = await store.notes_for("payments", KEY, BOUNDARY)
    assert not await store.save_post(KEY, channel="C1", ts="1.0", outgoing=[("P1", "Dev")], incoming=None,
                                     notes=notes, follow_up=follow_up, now=64.0,
                                     holder=EffectHolder(row.seq, "paused"))
    saved = await store.get(KEY)
    assert saved is not None and (saved.state, saved.ts) == (QUEUED, None)  # nothing of the paused one's
    assert await store.notes_of(KEY) == [] and await store.pending_in_queue(follow_up.queue) == 0
    assert await store.save_post(KEY, channel="C1", ts="2.0", outgoing=None, incoming=None, notes=notes,
                                 follow_up=follow_up, now=65.0, holder=EffectHolder(row.seq, "taker"))
    saved = await store.get(KEY)
    assert saved is not None and (saved.state, saved.ts) == (POSTED, "2.0")
    assert [n.text for n in await store.notes_of(KEY)] == ["before"]
    assert await store.pending_in_queue(follow_up.queue) == 1
    # The taker's post stands against a later write of the paused one's too.
    assert not await store.save_post(KEY, channel="C1", ts="1.0", outgoing=None, incoming=None, notes=[],
                                     follow_up=None, now=66.0, holder=EffectHolder(row.seq, "paused"))
    saved = await store.get(KEY)
    assert saved is not None and saved.ts == "2.0"


async def test_a_post_let_go_is_settled_and_its_alert_queued_once(store: Store) -> None:
    """A post queued for a rota gone from every catalogue is let go: its row is no longer "queued" (nothing reads it as
    pending), and the operators' alert goes with it in one transaction, once however often it is let go."""
    await store.claim(KEY, "payments", BOUNDARY, late=False, effect=PostHandover("handover:payments", "payments", KEY),
                      now=1.0)
    alert = AlertOperators(OPERATORS, "the handover of payments was not posted")
    assert await store.let_go(KEY, ROTA_REMOVED, alert=alert, now=2.0)
    assert not await store.let_go(KEY, ROTA_REMOVED, alert=alert, now=3.0)
    row = await store.get(KEY)
    assert row is not None and row.state == ROTA_REMOVED
    assert await store.pending_in_queue(alert.queue) == 1
    await store.claim("basket:posted", "basket", BOUNDARY, late=False, effect=None, now=1.0)
    assert not await store.let_go("basket:posted", ROTA_REMOVED, alert=alert, now=4.0)  # skipped: not queued
