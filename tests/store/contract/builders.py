"""What the contract tests put in a store, built through the domain and the ports only (no SQL), so the same
builders serve every store implementation."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from bot.adapters.pagerduty.webhook import read_event
from bot.domain.effects import Effect
from bot.domain.events import Person
from bot.domain.incident import ChannelPolicy, Decision, Incident, apply_event
from bot.domain.timeline import TimelineEntry
from bot.ports.store import Inbox, InboxRow, Outbox
from tests.helpers import incident_event

POLICY = ChannelPolicy()
DAY = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def at(minute: int) -> str:
    """A PagerDuty time on the test day, `minute` minutes after 10:00."""
    return f"2026-11-27T{10 + minute // 60:02d}:{minute % 60:02d}:00.000Z"


def trigger(incident_id: str = "Q1", *, number: int = 1, urgency: str = "high", priority: str | None = "P1",
            minute: int = 0, created_at: str | None = None, assignees: list[tuple[str, str]] | None = None
            ) -> Decision:
    """The decision for a new incident: the incident, its "triggered" line, its channel and that line's post."""
    event = incident_event("incident.triggered", incident_id=incident_id, number=number, urgency=urgency,
                           priority=priority, occurred_at=at(minute), created_at=created_at or at(minute),
                           assignees=assignees)
    return apply_event(None, read_event(event), POLICY)


def poisoned_trigger(incident_id: str, *, number: int = 1, assignee_name: str | None = None) -> Decision:
    """A decision the door never lets through (it refuses a number beyond 64 bits and cleans half a character), made
    through the real domain from an event whose snapshot carries it: what the store must quarantine if a bug ever
    lets one past the door."""
    event = read_event(incident_event("incident.triggered", incident_id=incident_id, occurred_at=at(0),
                                      created_at=at(0)))
    assert event.snapshot is not None
    assignees = (Person("PX", assignee_name),) if assignee_name is not None else event.snapshot.assignees
    snapshot = replace(event.snapshot, number=number, assignees=assignees)
    return apply_event(None, replace(event, snapshot=snapshot), POLICY)


def resolve(incident: Incident, *, minute: int = 30) -> Decision:
    event = incident_event("incident.resolved", incident_id=incident.id, number=incident.number,
                           occurred_at=at(minute))
    return apply_event(incident, read_event(event), POLICY)


def line(incident_id: str, entry_id: str, *, minute: int, kind: str = "annotated", text: str = "a note"
         ) -> TimelineEntry:
    return TimelineEntry(entry_id, incident_id, datetime.fromisoformat(at(minute)), kind, "Dev", text)


def note(incident_id: str, entry_id: str, *, minute: int, kind: str = "annotated", text: str = "a note",
         effects: tuple[Effect, ...] = ()) -> Decision:
    """A timeline line on its own (as a note on an incident the bot already knows, or not yet)."""
    return Decision(None, line(incident_id, entry_id, minute=minute, kind=kind, text=text), effects)


async def deliver(store: Inbox, delivery_id: str, event_id: str | None = None, *, incident_id: str | None = "Q1",
                  source: str = "pagerduty", body: str = "{}") -> bool:
    return await store.record_delivery(source=source, delivery_id=delivery_id, event_id=event_id or delivery_id,
                                       event_type="incident.triggered", incident_id=incident_id,
                                       occurred_at=at(0), body=body)


async def commit(store: Inbox, *decisions: Decision, now: float = 100.0) -> None:
    """Store decisions the way the worker does: one delivery each, applied in arrival order."""
    by_event: dict[str, Decision] = {}
    for decision in decisions:
        event_id = uuid.uuid4().hex
        by_event[event_id] = decision
        incident_id = decision.incident.id if decision.incident else decision.entry.incident_id if decision.entry \
            else None
        assert await deliver(store, event_id, incident_id=incident_id)

    def decide(row: InboxRow, incident: Incident | None) -> Decision:
        return by_event[row.event_id]
    assert await store.apply_pending(decide, now) == list(decisions)


async def drain(store: Outbox, now: float = 1e12) -> list[Effect]:
    """Every pending effect, as the dispatcher would take them (each done as soon as taken)."""
    performed: list[Effect] = []
    while due := await store.due_effects(now, limit=100, busy=[]):
        for row in due:
            performed.append(row.effect)
            await store.effect_done(row.seq)
    return performed
