"""Which arriving deliveries a pending inbox row holds back, for both stores: the rule of `record_and_apply`.

The inbox applies an incident's rows in arrival order, and `decide` reads nothing but the row and its incident
(bot/services/worker.py), so a delivery is applied as it is stored unless a row stored before it is pending for the
SAME incident: a Slack record or a failed decision of incident A does not hold up PagerDuty's events for incident B.
A row with no incident (incident_id NULL: a ServiceNow ticket linked to none, an event whose incident id is not one
the inbox orders by) could concern any incident, so the rule stays the old one for it: while one is pending, every
delivery waits; and a delivery with no incident is applied only while nothing at all is pending. A row of the same
transaction left pending (stored only, or its decision failed) holds back the later rows the same way.

The stores give what is pending when their transaction starts (SQLite: looked up under the write lock, lazily, one
seek per incident into migration 22's inbox_pending_incident; PostgreSQL: read in one statement once the appliers'
lock is held) and tell of each row they leave pending. And, for both, how `record_deliveries` answers (`all_stored`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from bot.ports.store import Arrival


class Waiting:
    """What holds back a transaction's deliveries. `loose`: a row with no incident is pending. `any_pending`,
    `incident_pending`: whether any row is, and whether one of that incident is (asked once each, and only if
    needed)."""

    def __init__(self, loose: bool, any_pending: Callable[[], bool],
                 incident_pending: Callable[[str], bool]) -> None:
        self._loose = loose
        self._any: bool | None = True if loose else None
        self._ask_any, self._ask_incident = any_pending, incident_pending
        self._incidents: dict[str, bool] = {}

    def holds(self, incident_id: str | None) -> bool:
        """Whether a delivery of this incident (None: with no incident) must be left pending, for the worker."""
        if incident_id is None:
            if self._any is None:
                self._any = self._ask_any()
            return self._any
        if self._loose:
            return True
        held = self._incidents.get(incident_id)
        if held is None:
            held = self._incidents[incident_id] = self._ask_incident(incident_id)
        return held

    def left(self, incident_id: str | None) -> None:
        """A row of this transaction is stored pending: it holds back the later rows of its incident (of every
        incident, if it has none)."""
        self._any = True
        if incident_id is None:
            self._loose = True
        else:
            self._incidents[incident_id] = True


async def all_stored(arrived: Sequence[asyncio.Future[Arrival]]) -> list[bool]:
    """Whether each of the deliveries stored together was new — once all are settled: the first error, if any
    could not be stored (the others were: a failed batch is stored one by one)."""
    outcomes = await asyncio.gather(*arrived, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome.stored for outcome in outcomes if isinstance(outcome, Arrival)]
