"""The Inbox port's `record_and_apply`: a delivery is applied as it is stored, in the same transaction, when nothing
stored before it is pending — and otherwise stored pending, untouched, for the worker to apply in arrival order. What
cannot be applied on arrival (a decision that raises, a content that cannot be read, a decision the store cannot hold)
is never lost nor half-applied: it is stored pending, and the worker quarantines it as before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.domain.effects import AlertOperators, OpenIncidentChannel, PostTimelineEntry
from bot.domain.incident import Decision, Incident
from bot.ports.store import Arrival, InboxRow, Skip, Store
from tests.store.contract.builders import at, deliver, drain, poisoned_trigger, resolve, trigger

Decide = Callable[[InboxRow, Incident | None], Decision | Skip]


async def arrive(store: Store, delivery_id: str, decide: Decide, *, incident_id: str | None = "Q1",
                 body: str | None = None, event_id: str | None = None) -> Arrival:
    return await store.record_and_apply(source="pagerduty", delivery_id=delivery_id,
                                        event_id=event_id or delivery_id, event_type="incident.triggered",
                                        incident_id=incident_id, occurred_at=at(0), body=body or delivery_id,
                                        decide=decide, now=5.0)


def deciding(decisions: dict[str, Decision | Skip], seen: list[tuple[str, Incident | None]] | None = None) -> Decide:
    """Decides by the row's body; a Skip whose reason is "raise" raises instead (a bug in deciding)."""
    def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        if seen is not None:
            seen.append((row.body, incident))
        outcome = decisions[row.body]
        if isinstance(outcome, Skip) and outcome.reason == "raise":
            raise KeyError("a bug in one event")
        return outcome
    return decide


async def test_a_delivery_with_nothing_waiting_is_stored_and_applied_at_once(store: Store) -> None:
    first = trigger("Q1")
    assert first.incident is not None and first.entry is not None
    seen: list[tuple[str, Incident | None]] = []
    later = resolve(first.incident)
    decide = deciding({"d1": first, "d2": later}, seen)
    assert await arrive(store, "d1", decide) == Arrival(stored=True, outcome=first)
    assert await store.incident("Q1") == first.incident
    assert await store.timeline("Q1") == [first.entry]
    assert (await store.depths())["inbox_pending"] == 0
    assert await arrive(store, "d2", decide) == Arrival(stored=True, outcome=later)
    assert seen == [("d1", None), ("d2", first.incident)]  # each sees the incident as the one before left it
    assert await store.incident("Q1") == later.incident
    effects = await drain(store)
    assert effects[:2] == [OpenIncidentChannel("Q1"), PostTimelineEntry("Q1", first.entry.id)]
    # Applied, and so never applied again by the worker.
    assert await store.apply_pending(decide, now=6.0) == []


async def test_a_duplicate_is_neither_stored_nor_decided_again(store: Store) -> None:
    seen: list[tuple[str, Incident | None]] = []
    decide = deciding({"d1": trigger("Q1")}, seen)
    assert (await arrive(store, "d1", decide)).stored
    assert await arrive(store, "d1", decide) == Arrival(stored=False, outcome=None)  # re-sent delivery
    assert await arrive(store, "d2", decide, event_id="d1") == Arrival(stored=False, outcome=None)  # same event
    assert len(seen) == 1
    assert len(await drain(store)) == 2  # the channel and the line, queued once


async def test_a_delivery_behind_a_pending_one_waits_for_the_worker_in_arrival_order(store: Store) -> None:
    first = trigger("Q1")
    assert first.incident is not None
    later = resolve(first.incident)
    seen: list[tuple[str, Incident | None]] = []
    decide = deciding({"d1": first, "d2": later}, seen)
    assert await deliver(store, "d1", body="d1")  # stored by another path, not applied yet
    assert await arrive(store, "d2", decide) == Arrival(stored=True, outcome=None)
    assert seen == [] and await store.incident("Q1") is None
    assert await store.apply_pending(decide, now=6.0) == [first, later]
    assert [body for body, _ in seen] == ["d1", "d2"]
    assert await store.incident("Q1") == later.incident


async def test_an_ignored_delivery_is_marked_so_on_arrival(store: Store) -> None:
    decide = deciding({"d1": Skip("ignored", "event type not handled")})
    assert await arrive(store, "d1", decide) == Arrival(stored=True, outcome=Skip("ignored", "event type not handled"))
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (0, 0)
    assert await store.apply_pending(decide, now=6.0) == []


async def test_a_delivery_whose_decision_raises_on_arrival_is_left_to_the_worker_which_quarantines_it(
        store: Store) -> None:
    decide = deciding({"d1": Skip("failed", "raise")})
    assert await arrive(store, "d1", decide) == Arrival(stored=True, outcome=None)
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (1, 0)
    assert await store.apply_pending(decide, now=6.0) == []
    [failed] = await store.failed_deliveries()
    assert "KeyError" in failed.reason
    assert [e for e in await drain(store) if isinstance(e, AlertOperators)] != []


async def test_a_delivery_that_cannot_be_read_is_left_to_the_worker_with_the_ones_after_it(store: Store) -> None:
    decisions: dict[str, Decision | Skip] = {"d1": Skip("failed", "cannot read it"), "d2": Skip("failed", "raise"),
                                             "d3": trigger("Q3", number=3)}
    decide = deciding(decisions)
    assert await arrive(store, "d1", decide, incident_id="Q1") == Arrival(stored=True, outcome=None)
    assert await arrive(store, "d2", decide, incident_id="Q2") == Arrival(stored=True, outcome=None)
    assert await arrive(store, "d3", decide, incident_id="Q3") == Arrival(stored=True, outcome=None)
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (3, 0)  # nothing quarantined on arrival
    assert await drain(store) == []
    # The worker applies them in order, quarantining the two that fail, and applies the third.
    assert await store.apply_pending(decide, now=6.0) == [decisions["d3"]]
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (0, 2)
    effects = await drain(store)
    assert sum(isinstance(e, AlertOperators) for e in effects) == 2
    assert OpenIncidentChannel("Q3") in effects


async def test_a_decision_the_store_cannot_hold_leaves_its_delivery_pending_and_nothing_of_it_written(
        store: Store) -> None:
    poisoned = poisoned_trigger("Q2", number=3, assignee_name="S\ud83d")  # its incident fits, its line does not
    decide = deciding({"d1": trigger("Q1"), "d2": poisoned})
    assert (await arrive(store, "d1", decide)).outcome is not None
    # Stored (its sender is answered 2xx and will not send it again), not applied, nothing of it half-written.
    assert await arrive(store, "d2", decide, incident_id="Q2") == Arrival(stored=True, outcome=None)
    assert await store.incident("Q2") is None and await store.timeline("Q2") == []
    assert await store.incident("Q1") is not None
    assert await store.apply_pending(decide, now=6.0) == []
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (0, 1)
    [failed] = await store.failed_deliveries()
    assert failed.incident_id == "Q2"


async def test_deliveries_arriving_together_are_each_stored_once_and_applied_in_arrival_order(store: Store) -> None:
    first = trigger("Q1")
    assert first.incident is not None
    seen: list[tuple[str, Incident | None]] = []
    bodies = [f"d{i}" for i in range(20)]
    decisions: dict[str, Decision | Skip] = {body: Skip("ignored", "not ours") for body in bodies}
    decisions["d0"] = first
    decide = deciding(decisions, seen)
    arrivals = await asyncio.gather(*(arrive(store, body, decide) for body in bodies + bodies))
    assert sum(a.stored for a in arrivals) == 20
    assert all(a.outcome is not None for a in arrivals if a.stored)  # nothing waited: all applied on arrival
    assert [body for body, _ in seen] == bodies  # decided once each, in the order stored
    assert all(incident == first.incident for _, incident in seen[1:])
    assert (await store.depths())["inbox_pending"] == 0
