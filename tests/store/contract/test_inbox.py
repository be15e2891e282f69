"""The Inbox port: deliveries are stored once (however many arrive together), applied in arrival order, and a row
that cannot be applied is set aside without holding up the others."""

from __future__ import annotations

import asyncio

from bot.domain.effects import OpenIncidentChannel, PostTimelineEntry
from bot.domain.incident import Decision, Incident
from bot.ports.store import InboxRow, Skip, Store
from tests.store.contract.builders import commit, deliver, drain, note, trigger


async def test_concurrent_deliveries_are_each_answered_correctly(store: Store) -> None:
    results = await asyncio.gather(*(deliver(store, f"d{i % 50}", f"e{i % 50}") for i in range(200)))
    assert results.count(True) == 50
    assert (await store.depths())["inbox_pending"] == 50


async def test_a_delivery_is_a_duplicate_by_its_delivery_id_or_its_event_id_within_its_source(store: Store) -> None:
    assert await deliver(store, "d1", "e1")
    assert not await deliver(store, "d1", "e2")  # PagerDuty re-sent the delivery
    assert not await deliver(store, "d2", "e1")  # the same event in another delivery
    assert await deliver(store, "d1", "e1", source="servicenow")  # another source's ids are its own
    assert (await store.depths())["inbox_pending"] == 2


async def test_rows_are_applied_in_arrival_order_each_seeing_the_incident_as_left_by_the_ones_before(
        store: Store) -> None:
    first = trigger("Q1")
    assert first.incident is not None
    for delivery in ("d1", "d2", "d3"):
        await deliver(store, delivery, body=delivery)
    seen: list[tuple[str, Incident | None]] = []

    def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        seen.append((row.body, incident))
        return first if row.body == "d1" else Skip("ignored", "not ours")

    assert await store.apply_pending(decide, now=1.0, limit=2) == [first]
    assert seen == [("d1", None), ("d2", first.incident)]
    assert (await store.depths())["inbox_pending"] == 1  # the limit left d3 for the next batch
    await store.apply_pending(decide, now=2.0)
    assert seen[-1] == ("d3", first.incident)
    assert await store.apply_pending(decide, now=3.0) == []
    assert await store.incident("Q1") == first.incident


async def test_a_row_whose_decision_raises_is_failed_and_the_rows_behind_it_are_applied(store: Store) -> None:
    for delivery in ("d1", "d2"):
        await deliver(store, delivery, body=delivery)
    decision = trigger("Q1")

    def decide(row: InboxRow, incident: Incident | None) -> Decision:
        if row.body == "d1":
            raise KeyError("a bug in one event")
        return decision

    assert await store.apply_pending(decide, now=1.0) == [decision]
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (0, 1)
    assert await store.incident("Q1") == decision.incident


async def test_a_decision_stores_its_incident_its_timeline_line_and_its_effects_together(store: Store) -> None:
    decision = trigger("Q1")
    assert decision.entry is not None
    await commit(store, decision)
    assert await store.incident("Q1") == decision.incident
    assert await store.timeline("Q1") == [decision.entry]
    assert await drain(store) == [OpenIncidentChannel("Q1"), PostTimelineEntry("Q1", decision.entry.id)]


async def test_lines_stored_before_the_incident_was_known_are_posted_once_its_channel_opens(store: Store) -> None:
    # A note can beat the incident's first event here: it has no channel to go to yet.
    early = note("Q1", "early-note", minute=1)
    opening = trigger("Q1", minute=0)
    assert opening.entry is not None
    await commit(store, early, opening)
    posted = [e.entry_id for e in await drain(store) if isinstance(e, PostTimelineEntry)]
    assert sorted(posted) == sorted(["early-note", opening.entry.id])


async def test_a_line_already_queued_for_posting_is_not_queued_again_when_the_channel_opens(store: Store) -> None:
    queued = note("Q1", "queued-note", minute=1, effects=(PostTimelineEntry("Q1", "queued-note"),))
    await commit(store, queued, trigger("Q1", minute=0))
    posted = [e.entry_id for e in await drain(store) if isinstance(e, PostTimelineEntry)]
    assert posted.count("queued-note") == 1


async def test_commit_decision_stores_a_decision_as_applying_it_would(store: Store) -> None:
    await deliver(store, "d1")
    rows: list[InboxRow] = []

    def keep(row: InboxRow, incident: Incident | None) -> Skip:
        rows.append(row)
        return Skip("ignored", "decided elsewhere")
    await store.apply_pending(keep, now=1.0)
    decision = trigger("Q1")
    assert decision.entry is not None
    await store.commit_decision(rows[0].seq, decision, now=2.0)
    assert await store.incident("Q1") == decision.incident
    assert await store.timeline("Q1") == [decision.entry]
    assert [type(e) for e in await drain(store)] == [OpenIncidentChannel, PostTimelineEntry]
