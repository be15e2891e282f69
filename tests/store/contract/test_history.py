"""The IncidentHistory port: a backfill adds only what is not there yet, and a report reads the incidents triggered
and deploys made within its period."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.incident import Incident
from bot.ports.incident_history import DeployRecord, History
from bot.ports.store import Store
from tests.store.contract.builders import trigger


def incident(incident_id: str, number: int, created_at: str) -> Incident:
    made = trigger(incident_id, number=number, created_at=created_at).incident
    assert made is not None
    return made


JAN, FEB, MAR = (incident("P1", 1, "2025-01-10T09:00:00Z"), incident("P2", 2, "2025-02-10T09:00:00Z"),
                 incident("P3", 3, "2025-03-10T09:00:00Z"))
DEPLOYS = (DeployRecord("d2", "SVC1", datetime(2025, 2, 1, tzinfo=UTC), "v2"),
           DeployRecord("d1", "SVC1", datetime(2025, 1, 1, tzinfo=UTC), "v1", source="synthetic"))


async def test_a_backfill_adds_what_is_new_and_keeps_what_is_there(store: Store) -> None:
    assert await store.add_history([JAN, FEB], DEPLOYS, now=1.0) == (2, 2)
    assert await store.add_history([FEB, MAR], DEPLOYS[:1], now=2.0) == (1, 0)
    history = await store.report_history()
    assert history == History((JAN, FEB, MAR), (DEPLOYS[1], DEPLOYS[0]))
    assert [await store.incident(i) for i in ("P1", "P2", "P3")] == [JAN, FEB, MAR]


async def test_a_report_reads_its_period_start_included_end_excluded(store: Store) -> None:
    await store.add_history([JAN, FEB, MAR], DEPLOYS, now=1.0)
    february = await store.report_history(datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 10, 9, tzinfo=UTC))
    assert february == History((FEB,), (DEPLOYS[0],))
    since = await store.report_history(start=datetime(2025, 2, 10, 9, tzinfo=UTC))
    assert [i.id for i in since.incidents] == ["P2", "P3"] and since.deploys == ()
    assert await store.report_history(end=datetime(2025, 1, 10, 9, tzinfo=UTC)) == History((), (DEPLOYS[1],))
    assert await store.report_history(end=datetime(2025, 2, 1, tzinfo=UTC)) == History((JAN,), (DEPLOYS[1],))


async def test_an_empty_store_has_an_empty_history(store: Store) -> None:
    assert await store.report_history() == History((), ())
