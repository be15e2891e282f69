"""The IncidentHistory port's report aggregates: per cell (service, UTC month, segment before/after the cuts) the
incidents and every TTA and TTR among them in whole microseconds, and deploys per cell, within the report's
period; a service the catalogue does not list carries its name."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from bot.domain.incident import Incident
from bot.domain.report_totals import Cell, IncidentCell
from bot.ports.incident_history import DeployRecord
from bot.ports.report_aggregates import ReportQuery
from bot.ports.store import Store
from tests.store.contract.builders import deliver, trigger


class Recorded:
    """A ReportTally that keeps what the store hands it (each cell's durations sorted: they come in any order)."""

    def __init__(self) -> None:
        self.incidents: list[IncidentCell] = []
        self.deploys: list[tuple[Cell, int]] = []

    def cells(self, incidents: Iterable[IncidentCell], deploys: Sequence[tuple[Cell, int]]) -> None:
        self.incidents = sorted((IncidentCell(c.key, c.incidents, sorted(c.tta_us), sorted(c.ttr_us))
                                 for c in incidents), key=str)
        self.deploys = sorted(deploys)


def past(number: int, service: str, triggered: datetime, tta_s: float | None, ttr_s: float | None,
         name: str = "") -> Incident:
    made = trigger(f"R{number}", number=number).incident
    assert made is not None
    return replace(made, service_id=service, service_name=name, triggered_at=triggered,
                   acknowledged_at=None if tta_s is None else triggered + timedelta(seconds=tta_s),
                   resolved_at=None if ttr_s is None else triggered + timedelta(seconds=ttr_s))


CUT = datetime(2021, 3, 15, tzinfo=UTC)
HISTORY = (
    past(1, "PLISTED", datetime(2021, 3, 1, 9, tzinfo=UTC), 60, 3600),
    past(2, "PLISTED", datetime(2021, 3, 20, 9, tzinfo=UTC), 120.000001, 1800),
    # 00:30 on 16 March at +01:00 is 23:30 on the 15th in UTC: after the cut, in March.
    past(3, "PLISTED", datetime(2021, 3, 16, 0, 30, tzinfo=timezone(timedelta(hours=1))), None, None),
    past(4, "POTHER", datetime(2021, 4, 2, tzinfo=UTC), 30, 600, name="Legacy billing"),
    past(5, "PLISTED", datetime(2021, 5, 1, tzinfo=UTC), 10, 10),  # after the period
)
DEPLOYS = (DeployRecord("d1", "PLISTED", datetime(2021, 3, 2, tzinfo=UTC)),
           DeployRecord("d2", "PLISTED", datetime(2021, 3, 3, tzinfo=UTC)),
           DeployRecord("d3", "POTHER", datetime(2021, 4, 30, tzinfo=UTC)))


async def test_cells_and_their_durations_of_the_period(store: Store) -> None:
    await store.add_history(HISTORY, DEPLOYS, now=1.0)
    seen = Recorded()
    await store.report_aggregates(ReportQuery(datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 5, 1, tzinfo=UTC),
                                              (CUT,), frozenset({"PLISTED"})), seen)
    assert seen.incidents == sorted([
        IncidentCell(("PLISTED", None, "2021-03", 0), 1, [60_000_000], [3_600_000_000]),
        IncidentCell(("PLISTED", None, "2021-03", 1), 2, [120_000_001], [1_800_000_000]),
        IncidentCell(("POTHER", "Legacy billing", "2021-04", 1), 1, [30_000_000], [600_000_000])], key=str)
    assert seen.deploys == [(("PLISTED", None, "2021-03", 0), 2), (("POTHER", None, "2021-04", 1), 1)]


async def test_a_cell_holds_every_duration_of_its_incidents(store: Store) -> None:
    # Many incidents of one service in one month, either side of a cut in the middle of it, some not yet
    # acknowledged or restored, and one an instant before the cut.
    history = [past(10 + k, "PLISTED", CUT + timedelta(days=k % 7 - 3, minutes=k), None if k % 5 == 0 else k,
                    None if k % 4 == 0 else 1000 + k) for k in range(40)]
    history.append(past(99, "PLISTED", CUT - timedelta(microseconds=1), 7, 8))
    await store.add_history(history, (), now=1.0)
    seen = Recorded()
    await store.report_aggregates(ReportQuery(cuts=(CUT,), listed=frozenset({"PLISTED"})), seen)
    expected = []
    for segment in (0, 1):
        mine = [i for i in history if (i.triggered_at >= CUT) == bool(segment)]
        expected.append(IncidentCell(
            ("PLISTED", None, "2021-03", segment), len(mine),
            sorted(round((i.acknowledged_at - i.triggered_at) / timedelta(microseconds=1)) for i in mine
                   if i.acknowledged_at),
            sorted(round((i.resolved_at - i.triggered_at) / timedelta(microseconds=1)) for i in mine
                   if i.resolved_at)))
    assert seen.incidents == expected


async def test_an_open_period_and_no_cuts_read_every_incident(store: Store) -> None:
    await store.add_history(HISTORY, (), now=1.0)
    seen = Recorded()
    await store.report_aggregates(ReportQuery(listed=frozenset({"PLISTED", "POTHER"})), seen)
    assert sum(c.incidents for c in seen.incidents) == len(HISTORY)
    assert {c.key[3] for c in seen.incidents} == {0} and all(c.key[1] is None for c in seen.incidents)
    assert sum(len(c.tta_us) for c in seen.incidents) == 4 and seen.deploys == []


async def test_an_empty_store_hands_over_nothing(store: Store) -> None:
    seen = Recorded()
    await store.report_aggregates(ReportQuery(listed=frozenset({"PLISTED"})), seen)
    assert seen.incidents == [] and seen.deploys == []


class HeldTally(Recorded):
    """A tally that, once it has the cells, holds on until the test lets it go: a report still being tallied. Let go
    on its own after HOLD_LIMIT_S, so that a store that waits for it (a delivery queued behind the report on the one
    store thread, or the tally run on the event loop itself) ends the test instead of hanging it; whether it was let
    go or gave up is what the test asserts, not how long anything took."""

    HOLD_LIMIT_S = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.let_go = threading.Event()
        self.gave_up = False

    def cells(self, incidents: Iterable[IncidentCell], deploys: Sequence[tuple[Cell, int]]) -> None:
        super().cells(incidents, deploys)
        self.holding.set()
        self.gave_up = not self.let_go.wait(self.HOLD_LIMIT_S)


async def test_a_report_being_tallied_holds_up_no_delivery(store: Store) -> None:
    """A report over years of history takes a while to tally: meanwhile the bot records webhooks (and everything
    else the store and the event loop do) as usual — neither the store's one thread nor the loop waits for it."""
    await store.add_history(HISTORY, DEPLOYS, now=1.0)
    tally = HeldTally()
    report = asyncio.create_task(store.report_aggregates(ReportQuery(listed=frozenset({"PLISTED"})), tally))
    assert await asyncio.to_thread(tally.holding.wait, HeldTally.HOLD_LIMIT_S * 2)
    assert await deliver(store, "while-a-report-runs")  # recorded while the tally still holds on
    tally.let_go.set()
    await report
    assert not tally.gave_up, "the delivery waited for the report to be tallied"
    assert sum(c.incidents for c in tally.incidents) == len(HISTORY)
