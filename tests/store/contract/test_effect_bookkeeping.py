"""An effect's bookkeeping recorded with its outcome (bot/ports/effect_bookkeeping.py): the facts it learnt — footprint
pieces, posted lines' ts, its ticket, the lines told to the ticket — whatever the outcome, in the outcome's own
transaction, but only by the effect's holder (a replica that lost its lease writes nothing over the new holder's);
its follow-ups only with the effect done; the card's refresh when ServiceNow starts or stops lagging."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

import psycopg

from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects.servicenow import OpenTicket, SyncTicket
from bot.domain.effects.slack import PostTimelineEntry, RefreshCard
from bot.ports.store import EffectBookkeeping, Store, TicketRow
from tests.store.contract.builders import commit, drain, note, trigger

TICKET = TicketRow("Q1", "sys-1", "INC1", "https://sn/1", "2", 1)
NEWER_FIELD = "added_by_a_newer_version"


def learnt() -> EffectBookkeeping:
    """Everything an effect can learn: two rounds of footprint pieces (the later value of a piece wins), a posted
    line, the ticket, the lines told to it, and a follow-up."""
    kept = EffectBookkeeping()
    kept.remember_footprint("Q1", {"card_ts": "1.1", "topic": "first"})
    kept.remember_footprint("Q1", {"topic": "second", "invited": ("U1", "U2"), "card_pinned": True})
    kept.timeline_ts["n1"] = "2.2"
    kept.tickets["Q1"] = TICKET
    kept.noted.extend(["n1", "n2"])
    kept.follow_ups.append((RefreshCard("Q1"), 50.0))
    return kept


async def claimed(store: Store, owner: str = "replica-a") -> int:
    """The seq of Q1's first effect (a line to post), claimed by `owner`."""
    await commit(store, note("Q1", "n1", minute=1, effects=(PostTimelineEntry("Q1", "n1"),)),
                 note("Q1", "n2", minute=2))
    [row] = await store.due_effects(now=100.0, limit=10, busy=[])
    assert await store.claim_effect(row.seq, owner=owner, now=100.0, lease_seconds=30.0)
    return row.seq


async def assert_facts_recorded(store: Store) -> None:
    footprint = await store.footprint("Q1")
    assert (footprint.card_ts, footprint.topic, footprint.invited, footprint.card_pinned) == (
        "1.1", "second", ("U1", "U2"), True)
    found = await store.timeline_entry("n1")
    assert found is not None and found[1] == "2.2"
    assert await store.ticket("Q1") == TICKET
    # Both lines told: nothing is left to sync.
    assert (await store.work_note_batch("Q1")).entries == []


async def test_an_effect_done_records_what_it_learnt_and_queues_its_follow_ups(store: Store) -> None:
    seq = await claimed(store)
    assert await store.effect_done(seq, owner="replica-a", bookkeeping=learnt())
    await assert_facts_recorded(store)
    assert await drain(store) == [RefreshCard("Q1")]


async def test_an_effect_retried_or_dead_records_what_it_learnt_but_queues_no_follow_up(store: Store) -> None:
    seq = await claimed(store)
    assert await store.effect_retry(seq, next_attempt_at=200.0, error="timeout", owner="replica-a",
                                    bookkeeping=learnt())
    await assert_facts_recorded(store)
    [again] = await store.due_effects(now=200.0, limit=10, busy=[])
    assert again.seq == seq
    assert await store.claim_effect(seq, owner="replica-a", now=200.0, lease_seconds=30.0)
    assert await store.effect_dead(seq, "gone", None, now=200.0, owner="replica-a", bookkeeping=learnt())
    assert await drain(store) == []  # no follow-up, and the dead effect is not offered
    assert [d["seq"] for d in await store.dead_effects()] == [seq]


async def test_an_outcome_refused_to_a_replica_that_lost_its_lease_records_nothing_over_the_new_holders(
        store: Store) -> None:
    seq = await claimed(store)
    # replica-a stalled past its lease; replica-b took the effect over and recorded what it found.
    assert await store.claim_effect(seq, owner="replica-b", now=200.0, lease_seconds=30.0)
    theirs = EffectBookkeeping()
    theirs.remember_footprint("Q1", {"card_ts": "9.9", "topic": "replica-b's"})
    theirs.timeline_ts["n1"] = "9.9"
    assert await store.effect_retry(seq, next_attempt_at=200.0, error="timeout", owner="replica-b",
                                    bookkeeping=theirs)
    assert await store.claim_effect(seq, owner="replica-b", now=200.0, lease_seconds=30.0)
    # replica-a's late outcomes, whichever, are refused, and what it learnt is not written over replica-b's.
    assert not await store.effect_retry(seq, next_attempt_at=300.0, error="late", owner="replica-a",
                                        bookkeeping=learnt())
    assert not await store.effect_dead(seq, "late", None, now=200.0, owner="replica-a", bookkeeping=learnt())
    assert not await store.effect_done(seq, owner="replica-a", bookkeeping=learnt())
    assert await store.effect_done_then_claim(seq, owner="replica-a", bookkeeping=learnt(), now=200.0,
                                              room={"slack": 1}, busy=[], lease_seconds=30.0) is None
    footprint = await store.footprint("Q1")
    assert (footprint.card_ts, footprint.topic, footprint.invited) == ("9.9", "replica-b's", ())
    line = await store.timeline_entry("n1")
    assert line is not None and line[1] == "9.9"
    assert await store.ticket("Q1") is None
    assert len((await store.work_note_batch("Q1")).entries) == 2  # neither line marked told
    assert await store.due_effects(now=200.0, limit=10, busy=[]) == []  # still replica-b's
    assert await store.effect_done(seq, owner="replica-b")
    assert await drain(store) == []  # replica-a's follow-up was never queued


async def test_a_follow_up_card_refresh_is_coalesced_like_any_other(store: Store) -> None:
    await store.queue_effect(RefreshCard("Q1"), now=1.0)
    await store.queue_effect(SyncTicket("Q1"), now=1.0)
    [sync] = [r for r in await store.due_effects(now=1.0, limit=10, busy=[]) if isinstance(r.effect, SyncTicket)]
    kept = EffectBookkeeping(follow_ups=[(RefreshCard("Q1"), 2.0)])
    # Done while the first refresh still waits unclaimed: that refresh will show what this one would.
    assert await store.effect_done(sync.seq, bookkeeping=kept)
    assert await drain(store) == [RefreshCard("Q1")]


async def test_a_claim_reads_the_incident_of_the_effects_that_start_from_it(store: Store) -> None:
    await commit(store, trigger("Q1"))
    await store.update_footprint("Q1", channel_id="C1")
    await store.save_ticket(TicketRow("Q1", "sys-1", "INC1", "https://sn/1"))
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    claimed = await store.claim_due_effects(100.0, {"slack": 5, "servicenow": 5}, [], owner="replica-a",
                                            lease_seconds=30.0, reads={"open_incident_channel": False,
                                                                       "sync_ticket": True})
    [opening], [sync] = claimed["slack"], claimed["servicenow"]
    # Read after the claim, as incident_in_slack reads it (the sync, in its first attempt, is not lagging).
    assert opening.found == await store.incident_in_slack("Q1")
    assert sync.found == await store.incident_in_slack("Q1", with_ticket=True)
    assert sync.found is not None and sync.found.ticket_queue_pending == 0  # in its first attempt: not lagging
    assert opening.found is not None and opening.found.footprint.channel_id == "C1"
    assert opening.found.incident is not None and opening.found.incident.id == "Q1"
    # A line to post comes with the line itself.
    await store.effect_done(opening.seq, owner="replica-a")
    [posting] = (await store.claim_due_effects(100.0, {"slack": 5}, [], owner="replica-a", lease_seconds=30.0,
                                               reads={"post_timeline_entry": False}))["slack"]
    assert isinstance(posting.effect, PostTimelineEntry) and posting.found is not None
    assert posting.found.entry is not None and posting.found.entry == await store.timeline_entry(
        posting.effect.entry_id)
    # A kind not in `reads` comes without.
    await store.effect_done(posting.seq, owner="replica-a")
    await store.queue_effect(RefreshCard("Q1"), now=100.0)
    [refresh] = (await store.claim_due_effects(100.0, {"slack": 5}, [], owner="replica-a", lease_seconds=30.0,
                                               reads={"post_timeline_entry": False}))["slack"]
    assert isinstance(refresh.effect, RefreshCard) and refresh.found is None


async def test_a_ticket_effect_refreshes_the_card_when_servicenow_stops_lagging_and_the_card_says_pending(
        store: Store) -> None:
    await store.update_footprint("Q1", card_ts="1.1", sync_pending_shown=True)
    for _ in range(2):
        await store.queue_effect(SyncTicket("Q1"), now=1.0)
    kept = EffectBookkeeping(refresh_card_once_synced=("Q1", 2.0))
    [lagging] = await store.due_effects(now=1.0, limit=10, busy=[])
    assert await store.effect_retry(lagging.seq, 1.0, "ServiceNow answered 503")  # the card says so already
    assert [r.seq for r in await store.due_effects(now=1.0, limit=10, busy=[])] == [lagging.seq]
    # Done at last, with a sync queued behind it that ServiceNow never failed: nothing lags, the card is refreshed.
    assert await store.effect_done(lagging.seq, bookkeeping=kept)
    assert {type(r.effect) for r in await store.due_effects(now=2.0, limit=10, busy=[])} == {SyncTicket, RefreshCard}
    await drain(store)
    # The card no longer says pending: a sync done asks for nothing.
    await store.update_footprint("Q1", sync_pending_shown=False)
    await store.queue_effect(SyncTicket("Q1"), now=3.0)
    [sync] = await store.due_effects(now=3.0, limit=10, busy=[])
    assert await store.effect_done(sync.seq, bookkeeping=EffectBookkeeping(refresh_card_once_synced=("Q1", 4.0)))
    assert await drain(store) == []


async def test_a_lagging_ticket_effect_that_dies_refreshes_the_card_that_says_pending(store: Store) -> None:
    """Found in review of session 7: a dead ticket effect lags no more, but its card said "sync pending" until the
    five-minute job."""
    await store.update_footprint("Q1", card_ts="1.1", sync_pending_shown=True)
    await store.queue_effect(SyncTicket("Q1"), now=1.0)
    [sync] = await store.due_effects(now=1.0, limit=10, busy=[])
    kept = EffectBookkeeping(refresh_card_once_synced=("Q1", 2.0))
    assert await store.effect_retry(sync.seq, 2.0, "ServiceNow answered 503")  # lagging; the card says so already
    assert await store.effect_dead(sync.seq, "ServiceNow answered 503", None, now=2.0, bookkeeping=kept)
    assert await drain(store) == [RefreshCard("Q1")]
    # One whose card does not say pending asks for nothing.
    await store.update_footprint("Q1", sync_pending_shown=False)
    await store.queue_effect(SyncTicket("Q1"), now=3.0)
    [again] = await store.due_effects(now=3.0, limit=10, busy=[])
    assert await store.effect_retry(again.seq, 3.0, "ServiceNow answered 503")
    assert await store.effect_dead(again.seq, "ServiceNow answered 503", None, now=3.0, bookkeeping=kept)
    assert await drain(store) == []


async def test_a_ticket_effect_servicenow_failed_refreshes_the_card_unless_it_says_pending_already(
        store: Store) -> None:
    await store.update_footprint("Q1", card_ts="1.1")
    await store.queue_effect(SyncTicket("Q1"), now=1.0)
    [sync] = await store.due_effects(now=1.0, limit=10, busy=[])
    kept = EffectBookkeeping(refresh_card_once_synced=("Q1", 1.0))
    assert await store.effect_retry(sync.seq, 5.0, "ServiceNow answered 503", bookkeeping=kept)
    [refresh] = await store.due_effects(now=1.0, limit=10, busy=[])
    assert refresh.effect == RefreshCard("Q1")  # the card will say "sync pending"
    assert await store.effect_done(refresh.seq)
    await store.update_footprint("Q1", sync_pending_shown=True)  # as the refresh remembers it
    assert await store.effect_retry(sync.seq, 9.0, "ServiceNow answered 503 again", bookkeeping=kept)
    assert await store.due_effects(now=5.0, limit=10, busy=[]) == []  # it says so already
    # A ticket effect retried without the marker (an effect of no incident's card) asks for nothing.
    await store.update_footprint("Q1", sync_pending_shown=False)
    assert await store.effect_retry(sync.seq, 9.0, "ServiceNow answered 503", bookkeeping=None)
    assert await store.due_effects(now=5.0, limit=10, busy=[]) == []


async def test_an_outcome_claims_what_its_slot_does_next_and_reads_what_it_recorded(store: Store) -> None:
    await commit(store, trigger("Q1"))
    await store.queue_effect(PostTimelineEntry("Q2", "f1"), now=100.0)
    await store.queue_effect(SyncTicket("Q1"), now=100.0)
    [opening] = (await store.claim_due_effects(100.0, {"slack": 1}, [], owner="replica-a", lease_seconds=30.0))["slack"]
    kept = EffectBookkeeping()
    kept.remember_footprint("Q1", {"channel_id": "C1", "card_ts": "1.1"})
    # Not its holder: not done, nothing recorded as done, nothing claimed.
    assert await store.effect_done_then_claim(opening.seq, owner="replica-b", bookkeeping=None, now=100.0,
                                              room={"slack": 1}, busy=[], lease_seconds=30.0) is None
    assert [r.effect for r in await store.due_effects(now=100.0, limit=10, busy=[], lane="slack")] == [
        PostTimelineEntry("Q2", "f1")]
    # Its holder: done, and its slot's next effect claimed in the same call. Q2's queue is busy here, so the
    # incident's own next effect (its first line) is the one; it comes with the incident as this outcome left it.
    after = await store.effect_done_then_claim(opening.seq, owner="replica-a", bookkeeping=kept, now=100.0,
                                               room={"slack": 1}, busy=["slack:Q2"], lease_seconds=30.0,
                                               reads={"post_timeline_entry": False, "open_incident_channel": False})
    assert after is not None and list(after) == ["slack"]
    [posting] = after["slack"]
    assert isinstance(posting.effect, PostTimelineEntry) and posting.effect.incident_id == "Q1"
    assert posting.attempts == 0 and posting.found is not None and posting.found.entry is not None
    assert posting.found.footprint.channel_id == "C1" and posting.found.footprint.card_ts == "1.1"
    assert after.next_due == {"slack": 100.0}  # Q2's line, due and waiting for a slot
    # Claimed for replica-a: offered to nobody else; the sync (another lane, not asked for) is left to the loop.
    assert await store.effect_done_then_claim(posting.seq, owner="replica-b", bookkeeping=None, now=100.0,
                                              room={"slack": 1}, busy=[], lease_seconds=30.0) is None
    assert [r.effect for r in await store.due_effects(now=100.0, limit=10, busy=[])] == [
        PostTimelineEntry("Q2", "f1"), SyncTicket("Q1")]
    last = await store.effect_done_then_claim(posting.seq, owner="replica-a", bookkeeping=None, now=100.0,
                                              room={"slack": 1}, busy=[], lease_seconds=30.0)
    assert last is not None and [r.effect for r in last["slack"]] == [PostTimelineEntry("Q2", "f1")]
    assert last.next_due == {"slack": 130.0}


async def test_an_opened_tickets_card_refresh_is_left_to_the_channels_opening_under_way(store: Store) -> None:
    """The ticket opens while the channel's card is being posted: the refresh that shows it is decided by whichever
    outcome comes last (a card rendered before the ticket existed must show it; rendered after, it shows it)."""
    await commit(store, trigger("Q1"))  # the channel's opening, then its line
    await store.queue_effect(OpenTicket("Q1"), now=100.0)
    claimed = await store.claim_due_effects(100.0, {"slack": 1, "servicenow": 1}, [], owner="replica-a",
                                            lease_seconds=30.0)
    [opening], [ticket] = claimed["slack"], claimed["servicenow"]
    assert (opening.effect.kind, ticket.effect) == ("open_incident_channel", OpenTicket("Q1"))
    await store.save_ticket(TICKET)  # saved at once, as the ticket's effect does
    assert await store.effect_done(ticket.seq, owner="replica-a",
                                   bookkeeping=EffectBookkeeping(refresh_card_for_ticket=("Q1", 100.0)))
    assert await store.pending_in_queue("slack:Q1") == 2  # the opening under way and its line: no refresh
    # The opening's card did not show the ticket: its outcome queues the refresh.
    assert await store.effect_done(opening.seq, owner="replica-a",
                                   bookkeeping=EffectBookkeeping(refresh_card_if_ticket=("Q1", 100.0)))
    assert [type(e) for e in await drain(store)] == [PostTimelineEntry, RefreshCard]
    # With no opening pending, the ticket's refresh is queued at once; an opening whose incident has no ticket asks
    # for nothing.
    await store.queue_effect(SyncTicket("Q1"), now=200.0)
    [sync] = await store.due_effects(200.0, 10, [])
    assert await store.effect_done(sync.seq, bookkeeping=EffectBookkeeping(refresh_card_for_ticket=("Q1", 200.0)))
    assert await drain(store) == [RefreshCard("Q1")]
    await store.queue_effect(SyncTicket("Q2"), now=300.0)
    [other] = await store.due_effects(300.0, 10, [])
    assert await store.effect_done(other.seq, bookkeeping=EffectBookkeeping(refresh_card_if_ticket=("Q2", 300.0)))
    assert await drain(store) == []


def give_a_newer_field(store: Store, workdir: Path, seq: int) -> None:
    """Write a field this version does not know into the effect's payload, with SQL of the test's own."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(workdir / "store.db") as conn:
            conn.execute(f"UPDATE outbox SET payload=json_set(payload, '$.{NEWER_FIELD}', 1) WHERE seq=?", (seq,))
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.where) as pg:  # the test cluster's URL has no password to redact
            pg.execute("UPDATE outbox SET payload = (payload::jsonb || jsonb_build_object(%s::text, 1))::text"
                       " WHERE seq = %s", (NEWER_FIELD, seq))


class Unbindable:
    """A busy queue no store can bind into its SQL: what makes a claim fail here (any failure would do)."""


async def test_a_claim_failing_after_the_outcome_leaves_the_outcome_recorded(store: Store) -> None:
    """The claim is a help, not the outcome: one that fails after the outcome is recorded (an SQL error) leaves the
    outcome recorded and answers nothing claimed, every lane due now (found in review of session 7: on SQLite the
    claim shared the outcome's savepoint, so its failure rolled the effect's "done" back too, and the effect was
    performed again after its lease)."""
    seq = await claimed(store)
    await store.queue_effect(PostTimelineEntry("Q9", "n9"), now=100.0)
    after = await store.effect_done_then_claim(seq, owner="replica-a", bookkeeping=learnt(), now=100.0,
                                               room={"slack": 8}, busy=[cast(str, Unbindable())],
                                               lease_seconds=30.0)
    # Nothing claimed, and every lane asked for due now: the dispatcher's loop claims instead.
    assert after is not None and dict(after) == {"slack": []} and after.next_due == {"slack": 100.0}
    assert await store.release_leases("replica-a") == 0  # nothing was left leased to nobody
    # The effect is done, what it learnt recorded and its follow-up queued: it is not offered again.
    await assert_facts_recorded(store)
    assert await store.pending_in_queue("slack:Q9") == 1
    assert [r.effect for r in await store.due_effects(now=200.0, limit=10, busy=["slack:Q9"])] == [RefreshCard("Q1")]


async def test_a_due_row_this_version_cannot_read_leaves_the_claim_after_the_outcome_whole(
        store: Store, tmp_path: Path) -> None:
    """A due row of another queue that this version cannot decode (a newer replica queued it) failed that claim
    until session 11; it is left out now, pending for a replica that can read it, and the rest is claimed."""
    seq = await claimed(store)
    await store.queue_effect(PostTimelineEntry("Q9", "n9"), now=100.0)
    [newer] = [row for row in await store.due_effects(now=100.0, limit=10, busy=[]) if row.effect.incident_id == "Q9"]
    give_a_newer_field(store, tmp_path, newer.seq)
    after = await store.effect_done_then_claim(seq, owner="replica-a", bookkeeping=learnt(), now=100.0,
                                               room={"slack": 8}, busy=[], lease_seconds=30.0)
    # The follow-up claimed (Q1's refresh); Q9's line left, and nothing due after them.
    assert after is not None and [row.effect for row in after["slack"]] == [RefreshCard("Q1")]
    assert after.next_due == {"slack": 130.0}  # the refresh's lease: Q9's line is not due for this replica
    await assert_facts_recorded(store)
    assert await store.pending_in_queue("slack:Q9") == 1
    assert await store.left_for_newer_version() == {"effects": 1, "records": 0}
