"""The Inbox port: deliveries are stored once (however many arrive together), applied in arrival order, and a row
that cannot be applied (at any step: deciding, or storing what was decided) is quarantined — set aside with its
reason, a reference and one operators' alert — without holding up the others."""

from __future__ import annotations

import asyncio
import re

from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry
from bot.domain.incident import Decision, Incident
from bot.ports.store import FailedDelivery, InboxRow, NewDelivery, Skip, Store
from tests.store.contract.builders import at, commit, deliver, drain, note, poisoned_trigger, trigger


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


async def test_duplicates_stored_together_are_told_apart_by_delivery_id_and_by_event_id(store: Store) -> None:
    # PostgreSQL stores a batch in one statement and matches the rows it stored to the deliveries (inbox.py _seqs).
    assert await deliver(store, "d0", "e0")

    def delivery(source: str, delivery_id: str, event_id: str) -> NewDelivery:
        return NewDelivery(source, delivery_id, event_id, "incident.triggered", "Q1", at(0),
                           f"{delivery_id}/{event_id}")
    assert await store.record_deliveries([
        delivery("pagerduty", "d1", "e0"),  # its event was stored before: a duplicate
        delivery("pagerduty", "d1", "e1"),  # the delivery id of the one refused, a new event: stored
        delivery("pagerduty", "d1", "e1"),  # the same again: a duplicate
        delivery("pagerduty", "d2", "e1"),  # that event in another delivery: a duplicate
        delivery("servicenow", "d1", "e1"),  # another source's ids are its own: stored
    ]) == [False, True, False, False, True]
    bodies: list[str] = []

    def keep(row: InboxRow, incident: Incident | None) -> Skip:
        bodies.append(f"{row.source}:{row.body}")
        return Skip("ignored", "read only")
    await store.apply_pending(keep, now=1.0)
    assert bodies == ["pagerduty:{}", "pagerduty:d1/e1", "servicenow:d1/e1"]


async def test_many_deliveries_are_stored_by_one_call_in_their_order_each_once(store: Store) -> None:
    # As a run of the reminder job stores its reminders: hundreds, one stored before (another replica's run), one
    # asked for twice in the same call.
    assert await deliver(store, "r5", body="before")
    many = [NewDelivery("pagerduty", f"r{i}", f"r{i}", "incident.triggered", f"Q{i % 7}", at(0), f"r{i}")
            for i in range(600)]
    assert await store.record_deliveries([*many, many[10]]) == [i != 5 for i in range(600)] + [False]
    assert await store.record_deliveries([]) == []
    bodies: list[str] = []

    def keep(row: InboxRow, incident: Incident | None) -> Skip:
        bodies.append(row.body)
        return Skip("ignored", "read only")
    while (await store.depths())["inbox_pending"]:  # a batch may end early (SQLite: after 20 ms)
        await store.apply_pending(keep, now=1.0, limit=1_000)
    assert bodies == ["before"] + [f"r{i}" for i in range(600) if i != 5]


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
    [failed] = await store.failed_deliveries()
    assert "KeyError" in failed.reason and "a bug in one event" in failed.reason
    assert (failed.source, failed.event_type, failed.incident_id) == ("pagerduty", "incident.triggered", "Q1")
    assert alerts(await drain(store)) == [failed.reference]


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


async def test_lines_stored_before_the_channel_are_posted_in_the_order_they_happened(store: Store) -> None:
    # Stored out of order (the later note arrived first); posted in the order they happened, each once.
    later, earlier = note("Q1", "later-note", minute=5), note("Q1", "earlier-note", minute=2)
    await commit(store, later, earlier, trigger("Q1", minute=0))
    posted = [e.entry_id for e in await drain(store) if isinstance(e, PostTimelineEntry)]
    early = [entry_id for entry_id in posted if entry_id.endswith("-note")]
    assert early == ["earlier-note", "later-note"]


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


def alerts(effects: list[Effect]) -> list[str]:
    """The references named by the operators' alerts among `effects` (each alert names exactly one)."""
    found = []
    for effect in effects:
        if isinstance(effect, AlertOperators):
            [reference] = re.findall(r"reference `([0-9a-f]{8})`", effect.text)
            found.append(reference)
    return found


async def test_a_decision_with_a_number_beyond_64_bits_or_a_lone_surrogate_is_quarantined_alone(
        store: Store) -> None:
    """Decisions the store cannot hold, made through the real domain: an incident number of 10**30 (PagerDuty's
    `data.number: 1e30`) and an assignee named with a lone surrogate (its incident can be written, its timeline line
    cannot: what the row wrote before failing must be undone). The rows before and after them are applied."""
    decisions = {"d1": trigger("Q1", number=1), "d2": poisoned_trigger("Q2", number=10**30),
                 "d3": poisoned_trigger("Q3", number=3, assignee_name="S\ud83d"), "d4": trigger("Q4", number=4)}
    for delivery in decisions:
        await deliver(store, delivery, incident_id=f"Q{delivery[1]}", body=delivery)

    def decide(row: InboxRow, incident: Incident | None) -> Decision:
        return decisions[row.body]

    assert await store.apply_pending(decide, now=1.0) == [decisions["d1"], decisions["d4"]]
    assert await store.incident("Q1") == decisions["d1"].incident
    assert await store.incident("Q4") == decisions["d4"].incident
    for poisoned in ("Q2", "Q3"):
        assert await store.incident(poisoned) is None
        assert await store.timeline(poisoned) == []
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (0, 2)
    failed = await store.failed_deliveries()
    assert [f.incident_id for f in failed] == ["Q3", "Q2"]  # the latest received first
    assert all(f.reason and len(f.reference) == 8 for f in failed)
    assert failed[0].reference != failed[1].reference
    effects = await drain(store)
    assert sorted(alerts(effects)) == sorted(f.reference for f in failed)
    assert {e.incident_id for e in effects if isinstance(e, OpenIncidentChannel)} == {"Q1", "Q4"}
    # Set aside for good: the next batches neither try them again nor alert again.
    assert await store.apply_pending(decide, now=2.0) == []
    assert await drain(store) == []


async def test_a_row_decided_failed_is_quarantined_with_its_reason_and_one_alert_and_ignored_is_not(
        store: Store) -> None:
    for delivery in ("unreadable", "not-ours"):
        await deliver(store, delivery, body=delivery)

    def decide(row: InboxRow, incident: Incident | None) -> Skip:
        if row.body == "unreadable":
            return Skip("failed", "event.data.number 1e+30 is not a 64-bit integer")
        return Skip("ignored", "event type not handled")

    assert await store.apply_pending(decide, now=1.0) == []
    [failed] = await store.failed_deliveries()
    assert failed.reason == "event.data.number 1e+30 is not a 64-bit integer"
    effects = await drain(store)
    assert alerts(effects) == [failed.reference]
    [alert] = effects
    assert isinstance(alert, AlertOperators)
    for named in ("incident.triggered", "Q1", "event.data.number 1e+30", "pavedroad inbox failed",
                  f"pavedroad inbox retry {failed.reference}"):
        assert named in alert.text
    assert (await store.depths())["inbox_failed"] == 1


async def test_the_operators_alert_cannot_mention_or_link_whatever_the_reason_says(store: Store) -> None:
    await deliver(store, "d1")

    def decide(row: InboxRow, incident: Incident | None) -> Skip:
        return Skip("failed", "title <!channel> <https://evil.example|click> & \ud83d\x00")

    await store.apply_pending(decide, now=1.0)
    [alert] = await drain(store)
    assert isinstance(alert, AlertOperators)
    assert "<!channel>" not in alert.text and "<https://" not in alert.text
    assert "&lt;!channel&gt;" in alert.text
    [failed] = await store.failed_deliveries()
    assert "\x00" not in failed.reason and "\ud83d" not in failed.reason


async def test_retry_sets_a_quarantined_delivery_back_to_pending_under_the_same_reference(store: Store) -> None:
    await deliver(store, "d1", body="d1")
    fixed = False
    decision = trigger("Q1")

    def decide(row: InboxRow, incident: Incident | None) -> Decision:
        if not fixed:
            raise ValueError("a bug, fixed later")
        return decision

    await store.apply_pending(decide, now=1.0)
    [failed] = await store.failed_deliveries()
    assert not await store.retry_delivery("00000000")
    assert await store.retry_delivery(failed.reference)
    assert not await store.retry_delivery(failed.reference)  # pending now, not quarantined
    assert (await store.depths())["inbox_pending"] == 1
    await store.apply_pending(decide, now=2.0)  # not fixed yet: set aside again, under the same reference
    assert [f.reference for f in await store.failed_deliveries()] == [failed.reference]
    assert alerts(await drain(store)) == [failed.reference, failed.reference]
    fixed = True
    assert await store.retry_delivery(failed.reference)
    assert await store.apply_pending(decide, now=3.0) == [decision]
    assert await store.failed_deliveries() == []
    assert await store.incident("Q1") == decision.incident


async def test_failed_deliveries_lists_the_latest_first_up_to_a_limit(store: Store) -> None:
    for delivery in ("d1", "d2", "d3"):
        await deliver(store, delivery, incident_id=delivery, body=delivery)

    def decide(row: InboxRow, incident: Incident | None) -> Skip:
        return Skip("failed", f"cannot read {row.body}")

    await store.apply_pending(decide, now=1.0)
    latest = await store.failed_deliveries(2)
    assert [(f.incident_id, f.reason) for f in latest] == [("d3", "cannot read d3"), ("d2", "cannot read d2")]
    assert all(isinstance(f, FailedDelivery) and f.received_at for f in latest)
    assert len(await store.failed_deliveries()) == 3


async def test_a_delivery_that_cannot_be_stored_fails_alone_and_those_arriving_with_it_are_stored(
        store: Store) -> None:
    """An event id with a lone surrogate is text no store can hold; sent among 60 good deliveries at once, only
    its caller hears of it (and answers 503); the 60 are stored."""
    good = [deliver(store, f"d{i}") for i in range(60)]
    results = await asyncio.gather(*good[:30], deliver(store, "bad", "E\ud83d"), *good[30:],
                                   return_exceptions=True)
    assert results[30] is not True and isinstance(results[30], Exception)
    assert results[:30] + results[31:] == [True] * 60
    assert (await store.depths())["inbox_pending"] == 60
