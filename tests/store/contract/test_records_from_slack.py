"""The RecordsFromSlack port: a record from Slack read back by its id, as stored — pending, applied, or set aside
(quarantined) with its reference; a role assignment set aside also queues word to the person who asked for it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.coordination import ROLE_ASSIGNED, RoleAssignment, RoleHolder, command_to_json, take_command_id
from bot.domain.effects import AlertOperators
from bot.domain.effects.slack import TellPerson
from bot.domain.incident import Decision, Incident
from bot.ports.store import InboxRow, Skip, Store
from tests.store.contract.builders import at, commit, drain, trigger

TAKE = RoleAssignment(take_command_id("Q1"), "Q1", datetime(2026, 11, 27, 10, 5, tzinfo=UTC),
                      RoleHolder("commander", "UASHA", "Asha Patel"), "UASHA", "Asha Patel", vacant_only=True,
                      incident_number=1)


async def record(store: Store) -> None:
    assert await store.record_delivery(source="slack", delivery_id=TAKE.id, event_id=TAKE.id, event_type=ROLE_ASSIGNED,
                                       incident_id="Q1", occurred_at=at(5), body=command_to_json(TAKE))


async def test_a_record_from_slack_reads_back_by_its_id_as_it_stands(store: Store) -> None:
    assert await store.recorded_from_slack(TAKE.id) is None
    await commit(store, trigger("Q1"))
    await record(store)
    pending = await store.recorded_from_slack(TAKE.id)
    assert pending is not None and pending.state == "pending" and pending.body == command_to_json(TAKE)

    def failing(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        raise RuntimeError("its decision cannot be stored")
    assert await store.apply_pending(failing, 200.0) == []
    failed = await store.recorded_from_slack(TAKE.id)
    assert failed is not None and failed.state == "failed" and failed.reference
    # Only records from Slack: a delivery from outside under the same event id is none.
    assert await store.record_delivery(source="pagerduty", delivery_id="d9", event_id="other", event_type="x",
                                       incident_id="Q1", occurred_at=at(6), body="{}")
    assert await store.recorded_from_slack("other") is None
    effects = await drain(store)
    told = [e for e in effects if isinstance(e, TellPerson)]
    assert [t.user for t in told] == ["UASHA"] and failed.reference in told[0].text
    assert "Take command of #1 could not be applied" in told[0].text
    assert sum(isinstance(e, AlertOperators) for e in effects) >= 1


async def test_a_record_set_aside_again_after_an_operators_retry_tells_its_person_no_second_time(
        store: Store) -> None:
    """Set aside, retried by an operator (`pavedroad inbox retry <reference>`) before its cause was fixed, and set aside
    again under the same reference: the operators are alerted again, and the person, told once, is not told again
    (found in review: a second DM, its marker new with each queueing, said again it "could not be applied")."""
    await commit(store, trigger("Q1"))
    await record(store)

    def failing(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        raise RuntimeError("its decision cannot be stored")
    await store.apply_pending(failing, 200.0)
    [failed] = await store.failed_deliveries()
    assert [type(e) for e in await drain(store) if isinstance(e, TellPerson)] == [TellPerson]
    assert await store.retry_delivery(failed.reference)
    await store.apply_pending(failing, 300.0)
    again = await drain(store)
    assert [e for e in again if isinstance(e, TellPerson)] == [], again
    assert any(isinstance(e, AlertOperators) and failed.reference in e.text for e in again), again
