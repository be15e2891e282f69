"""The Inbox port's `record_and_apply`: a delivery is applied as it is stored, in the same transaction, unless a row
of its incident (or one with no incident) stored before it is pending — and then stored pending, untouched, for the
worker to apply in arrival order; a delivery with no incident is applied only while nothing is pending. What
cannot be applied on arrival (a decision that raises, a content that cannot be read, a decision the store cannot hold)
is never lost nor half-applied: it is stored pending, and the worker quarantines it as before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.domain.effects import AlertOperators
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry
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


async def test_a_delivery_that_cannot_be_read_is_left_to_the_worker_with_its_incidents_rows_after_it(
        store: Store) -> None:
    first = trigger("Q1")
    assert first.incident is not None
    decisions: dict[str, Decision | Skip] = {"d1": Skip("failed", "cannot read it"), "d2": Skip("failed", "raise"),
                                             "d3": trigger("Q3", number=3), "d4": resolve(first.incident)}
    decide = deciding(decisions)
    assert await arrive(store, "d1", decide, incident_id="Q1") == Arrival(stored=True, outcome=None)
    assert await arrive(store, "d2", decide, incident_id="Q2") == Arrival(stored=True, outcome=None)
    # Another incident's: applied; the first's next row: behind its pending one.
    assert await arrive(store, "d3", decide, incident_id="Q3") == Arrival(stored=True, outcome=decisions["d3"])
    assert await arrive(store, "d4", decide, incident_id="Q1") == Arrival(stored=True, outcome=None)
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (3, 0)  # nothing quarantined on arrival
    assert OpenIncidentChannel("Q3") in await drain(store)
    # The worker applies them in order, quarantining the two that fail, and applies the fourth.
    assert await store.apply_pending(decide, now=6.0) == [decisions["d4"]]
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (0, 2)
    effects = await drain(store)
    assert sum(isinstance(e, AlertOperators) for e in effects) == 2


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


async def test_a_pending_row_of_one_incident_does_not_hold_back_another_incidents_delivery(store: Store) -> None:
    a1, b1 = trigger("QA"), trigger("QB", number=2)
    assert a1.incident is not None and b1.incident is not None
    a2, b2 = resolve(a1.incident), resolve(b1.incident)
    seen: list[tuple[str, Incident | None]] = []
    decide = deciding({"a1": a1, "a2": a2, "b1": b1, "b2": b2}, seen)
    assert await deliver(store, "a1", body="a1", incident_id="QA")  # stored by another path (a Slack record, say)
    assert await arrive(store, "b1", decide, incident_id="QB") == Arrival(stored=True, outcome=b1)
    assert await arrive(store, "a2", decide, incident_id="QA") == Arrival(stored=True, outcome=None)  # behind a1
    assert await arrive(store, "b2", decide, incident_id="QB") == Arrival(stored=True, outcome=b2)
    assert [body for body, _ in seen] == ["b1", "b2"]
    assert await store.incident("QB") == b2.incident and await store.incident("QA") is None
    # The worker applies the incident's rows in arrival order, each seeing the incident as the one before left it.
    assert await store.apply_pending(decide, now=6.0) == [a1, a2]
    assert seen[2:] == [("a1", None), ("a2", a1.incident)]
    assert await store.incident("QA") == a2.incident
    assert (await store.depths())["inbox_pending"] == 0


async def test_a_pending_row_with_no_incident_holds_back_every_delivery(store: Store) -> None:
    b1 = trigger("QB", number=2)
    seen: list[tuple[str, Incident | None]] = []
    decide = deciding({"n1": Skip("ignored", "not ours"), "b1": b1, "n2": Skip("ignored", "not ours")}, seen)
    assert await deliver(store, "n1", body="n1", incident_id=None)
    assert await arrive(store, "b1", decide, incident_id="QB") == Arrival(stored=True, outcome=None)
    assert await arrive(store, "n2", decide, incident_id=None) == Arrival(stored=True, outcome=None)
    assert seen == []
    assert await store.apply_pending(decide, now=6.0) == [b1]
    assert [body for body, _ in seen] == ["n1", "b1", "n2"]


async def test_a_delivery_with_no_incident_waits_while_any_row_is_pending(store: Store) -> None:
    seen: list[tuple[str, Incident | None]] = []
    decide = deciding({"a1": trigger("QA"), "n1": Skip("ignored", "not ours")}, seen)
    assert await deliver(store, "a1", body="a1", incident_id="QA")
    assert await arrive(store, "n1", decide, incident_id=None) == Arrival(stored=True, outcome=None)
    assert seen == []
    assert len(await store.apply_pending(decide, now=6.0)) == 1
    assert [body for body, _ in seen] == ["a1", "n1"]
    # With nothing pending, it is applied as it arrives.
    assert await arrive(store, "n2", deciding({"n2": Skip("ignored", "not ours")}), incident_id=None) == Arrival(
        stored=True, outcome=Skip("ignored", "not ours"))


async def test_within_deliveries_stored_together_a_row_left_pending_holds_back_only_its_incidents_rows(
        store: Store) -> None:
    a1, b1, c1 = trigger("QA"), trigger("QB", number=2), trigger("QC", number=3)
    assert a1.incident is not None and b1.incident is not None and c1.incident is not None
    a2, b2, c2 = resolve(a1.incident), resolve(b1.incident), resolve(c1.incident)
    on_arrival = deciding({"a1": Skip("failed", "raise"), "a2": a2, "b1": b1, "b2": b2, "c2": c2})
    # Handed to the store together (one transaction on PostgreSQL; on SQLite one or more, the same outcome): a1's
    # decision fails and c1 is only stored, so each holds back its incident's later row; B's rows are applied.
    arrivals = await asyncio.gather(
        arrive(store, "a1", on_arrival, incident_id="QA"), deliver(store, "c1", body="c1", incident_id="QC"),
        arrive(store, "b1", on_arrival, incident_id="QB"), arrive(store, "a2", on_arrival, incident_id="QA"),
        arrive(store, "c2", on_arrival, incident_id="QC"), arrive(store, "b2", on_arrival, incident_id="QB"))
    assert list(arrivals) == [Arrival(stored=True, outcome=None), True, Arrival(stored=True, outcome=b1),
                              Arrival(stored=True, outcome=None), Arrival(stored=True, outcome=None),
                              Arrival(stored=True, outcome=b2)]
    seen: list[tuple[str, Incident | None]] = []
    assert await store.apply_pending(deciding({"a1": a1, "a2": a2, "c1": c1, "c2": c2}, seen), now=6.0) == [
        a1, c1, a2, c2]
    assert seen == [("a1", None), ("c1", None), ("a2", a1.incident), ("c2", c1.incident)]
