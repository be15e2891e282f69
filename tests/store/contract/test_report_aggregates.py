"""The IncidentHistory port's report aggregates: per cell (service, UTC month, segment before/after the cuts) the
incidents and their TTA/TTR counts and totals in whole microseconds, deploys per cell, then every TTA and TTR in
ascending order, within the report's period; a service the catalogue does not list carries its name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from bot.domain.incident import Incident
from bot.domain.report_totals import Cell, IncidentCell
from bot.ports.report_aggregates import ReportQuery
from bot.ports.store import DeployRecord, Store
from tests.store.contract.builders import trigger


class Recorded:
    """A ReportTally that keeps what the store hands it."""

    def __init__(self) -> None:
        self.incidents: list[IncidentCell] = []
        self.deploys: list[tuple[Cell, int]] = []
        self.ordered: dict[str, list[tuple[str, str | None, str, int, int]]] = {"tta": [], "ttr": []}

    def cells(self, incidents: Sequence[IncidentCell], deploys: Sequence[tuple[Cell, int]]) -> None:
        self.incidents, self.deploys = sorted(incidents, key=str), sorted(deploys)

    def durations(self, measure: str, rows: Sequence[tuple[str, str | None, str, int, int]]) -> None:
        self.ordered[measure] += [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


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


async def test_cells_and_ordered_durations_of_the_period(store: Store) -> None:
    await store.add_history(HISTORY, DEPLOYS, now=1.0)
    seen = Recorded()
    await store.report_aggregates(ReportQuery(datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 5, 1, tzinfo=UTC),
                                              (CUT,), frozenset({"PLISTED"})), seen)
    assert seen.incidents == sorted([
        IncidentCell(("PLISTED", None, "2021-03", 0), 1, 1, 60_000_000, 1, 3_600_000_000),
        IncidentCell(("PLISTED", None, "2021-03", 1), 2, 1, 120_000_001, 1, 1_800_000_000),
        IncidentCell(("POTHER", "Legacy billing", "2021-04", 1), 1, 1, 30_000_000, 1, 600_000_000)], key=str)
    assert seen.deploys == [(("PLISTED", None, "2021-03", 0), 2), (("POTHER", None, "2021-04", 1), 1)]
    assert [r[4] for r in seen.ordered["tta"]] == [30_000_000, 60_000_000, 120_000_001]
    assert [r[4] for r in seen.ordered["ttr"]] == [600_000_000, 1_800_000_000, 3_600_000_000]
    assert seen.ordered["ttr"][0][:4] == ("POTHER", "Legacy billing", "2021-04", 1)


async def test_an_open_period_and_no_cuts_read_every_incident(store: Store) -> None:
    await store.add_history(HISTORY, (), now=1.0)
    seen = Recorded()
    await store.report_aggregates(ReportQuery(listed=frozenset({"PLISTED", "POTHER"})), seen)
    assert sum(c.incidents for c in seen.incidents) == len(HISTORY)
    assert {c.key[3] for c in seen.incidents} == {0} and all(c.key[1] is None for c in seen.incidents)
    assert len(seen.ordered["tta"]) == 4 and seen.deploys == []


async def test_an_empty_store_hands_over_nothing(store: Store) -> None:
    seen = Recorded()
    await store.report_aggregates(ReportQuery(listed=frozenset({"PLISTED"})), seen)
    assert seen.incidents == [] and seen.deploys == [] and seen.ordered == {"tta": [], "ttr": []}
