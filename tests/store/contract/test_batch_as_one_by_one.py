"""A batch of deliveries applied at once leaves the store exactly as the same deliveries applied one at a time:
the same incidents, the same timeline lines in the same order, and in every queue the same effects in the same order
(card refreshes coalesced alike, the posts of lines that beat their incident's trigger queued after its channel's
opening). PostgreSQL writes a batch's decisions as a few statements (bot/adapters/store/postgres/decision_writes.py);
this is what says that changed nothing a reader can see.

Two incidents' worth of real PagerDuty deliveries, decided by the worker, go into one store in one batch; the same
deliveries for two other incidents (their ids renamed) go into the same store one row per batch. Then each queue's
effects, each timeline and each incident are compared, the ids renamed back."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from bot.adapters.clock import SettableClock
from bot.adapters.pagerduty.webhook import PagerDutyWebhook
from bot.domain.effects import OPERATORS, AlertOperators, Effect
from bot.domain.incident import Decision, Incident
from bot.ports.store import InboxRow, Skip, Store
from bot.services.worker import IncidentWorker
from tests.helpers import incident_event, note_event
from tests.store.contract.builders import DAY, POLICY, at, deliver, drain

RENAMED = {"QA1": "QB1", "QA2": "QB2", "QA3": "QB3"}
Delivery = tuple[str, str, str]


def scenario(first: str, second: str, third: str) -> tuple[list[Delivery], list[Delivery]]:
    """(event id, incident id, body) in arrival order: what comes before (`second`'s trigger, its effects done, so
    that its card is in Slack and can be refreshed; a note that beats `third`'s trigger by a batch), then the batch:
    `third`'s trigger, a note that beats `first`'s trigger within the batch, the incidents interleaved,
    acknowledgements, priority changes and notes in a row (each asking for a card refresh), a resolve."""
    before = [(second, incident_event("incident.triggered", incident_id=second, number=2, occurred_at=at(1),
                                      created_at=at(1), urgency="low", priority=None)),
              (third, note_event("seen a batch before the trigger", incident_id=third, occurred_at=at(1)))]
    events = [
        (third, incident_event("incident.triggered", incident_id=third, number=3, occurred_at=at(2),
                               created_at=at(2))),
        (first, note_event("seen before the trigger", incident_id=first, occurred_at=at(2))),
        (first, incident_event("incident.triggered", incident_id=first, number=1, occurred_at=at(3),
                               created_at=at(3))),
        (second, incident_event("incident.priority_updated", incident_id=second, number=2, occurred_at=at(4),
                                created_at=at(1), urgency="low", priority="P3")),
        (first, incident_event("incident.acknowledged", incident_id=first, number=1, occurred_at=at(5),
                               created_at=at(3))),
        (second, incident_event("incident.acknowledged", incident_id=second, number=2, occurred_at=at(5),
                                created_at=at(1), urgency="low", priority="P3")),
        (second, note_event("rolled back", incident_id=second, occurred_at=at(6))),
        (first, incident_event("incident.priority_updated", incident_id=first, number=1, occurred_at=at(7),
                               created_at=at(3), priority="P2")),
        (second, incident_event("incident.priority_updated", incident_id=second, number=2, occurred_at=at(8),
                                created_at=at(1), urgency="low", priority="P2")),
        (first, note_event("looking at the database", incident_id=first, occurred_at=at(8))),
        (second, incident_event("incident.resolved", incident_id=second, number=2, occurred_at=at(9),
                                created_at=at(1), urgency="low", priority="P2")),
    ]

    def deliveries(events: list[tuple[str, dict[str, Any]]]) -> list[Delivery]:
        return [(f"{event['event']['id']}-{incident}", incident, json.dumps(event)) for incident, event in events]
    return deliveries(before), deliveries(events)


async def deliver_all(store: Store, deliveries: list[Delivery]) -> None:
    for event_id, incident_id, body in deliveries:
        event = json.loads(body)["event"]
        assert await store.record_delivery(source="pagerduty", delivery_id=event_id, event_id=event_id,
                                           event_type=event["event_type"], incident_id=incident_id,
                                           occurred_at=event["occurred_at"], body=body)


def worker(store: Store) -> IncidentWorker:
    return IncidentWorker(store, POLICY, SettableClock(DAY, frozen=True), lambda: None,
                          pagerduty=PagerDutyWebhook(["secret"]))


async def by_queue(store: Store, effects: list[Effect], incidents: tuple[str, ...]
                   ) -> dict[str, list[tuple[str, str]]]:
    """Each queue of these incidents, its effects in the order taken, with the ids written as the first pair's and
    a timeline line named by its text (its id is the event's)."""
    queues: dict[str, list[tuple[str, str]]] = defaultdict(list)
    back = {new: old for old, new in RENAMED.items()}
    for effect in effects:
        if effect.incident_id in incidents:
            fields = effect.payload()
            if "entry_id" in fields:
                found = await store.timeline_entry(str(fields.pop("entry_id")))
                assert found is not None
                fields["entry"] = f"{found[0].kind}: {found[0].text}"
            payload = json.dumps(fields, sort_keys=True)
            queue = effect.queue
            for new, old in back.items():
                payload, queue = payload.replace(new, old), queue.replace(new, old)
            queues[queue].append((effect.kind, payload))
    return dict(queues)


async def test_a_batch_applied_at_once_leaves_what_one_row_at_a_time_leaves(store: Store) -> None:
    applier = worker(store)
    (before_a, batch_a), (before_b, batch_b) = scenario("QA1", "QA2", "QA3"), scenario("QB1", "QB2", "QB3")
    await deliver_all(store, before_a + before_b)
    assert await applier.drain() == 4
    await drain(store)  # the second incident's channel opened and its card posted
    await deliver_all(store, batch_a)
    assert await applier.drain(limit=1_000) == 11  # one batch: all eleven rows
    await deliver_all(store, batch_b)
    for _ in range(11):
        assert await applier.drain(limit=1) == 1
    assert (await store.depths())["inbox_pending"] == 0

    effects = await drain(store)
    batched = await by_queue(store, effects, ("QA1", "QA2", "QA3"))
    one_by_one = await by_queue(store, effects, ("QB1", "QB2", "QB3"))
    assert batched == one_by_one
    # What the scenario is there for: the early note's post follows its channel's opening, and refreshes were asked.
    for early in ("slack:QA1", "slack:QA3"):
        assert [kind for kind, _ in batched[early][:2]] == ["open_incident_channel", "post_timeline_entry"]
        assert "seen" in batched[early][1][1]
    assert any(kind == "refresh_card" for queue in batched.values() for kind, _ in queue)
    for old, new in RENAMED.items():
        assert [(e.kind, e.text, e.occurred_at) for e in await store.timeline(old)] == \
            [(e.kind, e.text, e.occurred_at) for e in await store.timeline(new)]
        first, second = await store.incident(old), await store.incident(new)
        assert first is not None and second is not None
        assert (first.status, first.priority, first.urgency, first.acknowledged_at, first.resolved_at) == \
            (second.status, second.priority, second.urgency, second.acknowledged_at, second.resolved_at)


async def test_a_row_quarantined_in_a_batch_alerts_after_the_alerts_of_the_rows_before_it(store: Store) -> None:
    # A ticket assigned to no team alerts the operators; a row after it in the same batch that cannot be read is
    # quarantined with its own alert, in the same queue: the alerts come in the rows' order, as one row at a time.
    for delivery in ("no-team", "unreadable", "no-team-again"):
        await deliver(store, delivery, incident_id=None, source="servicenow", body=delivery)

    def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        if row.body == "unreadable":
            return Skip("failed", "cannot read it")
        return Decision(None, None, (AlertOperators(OPERATORS, f"ticket {row.body} is assigned to no team"),))

    assert len(await store.apply_pending(decide, now=1.0)) == 2
    [failed] = await store.failed_deliveries()
    texts = [effect.text for effect in await drain(store) if isinstance(effect, AlertOperators)]
    assert len(texts) == 3
    assert "no-team is" in texts[0] and failed.reference in texts[1] and "no-team-again" in texts[2]
