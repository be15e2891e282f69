"""The sandbox's synthetic incident history, built to reproduce our reconstruction of the seed's table.

The operating model's source document has a table of yearly figures for a platform before and after its teams ran
their own services. It is not in this repository: the figures below are *our illustrative reconstruction* of its
shape (an "operations" year restoring in 2.7 band windows, -170%, then three years of teams running their services),
not data of any real organisation. `tests/reports/test_reconstruction.py` checks that `pavedroad report --by period`
reproduces the README's table from this history, figure for figure.

Each incident is (service, minutes to acknowledge, minutes to restore); services are the example catalogue's, whose
bands have windows of 45 min (Checkout, £750K), 4 h (Basket API, £500K) and 7 h (Delivery Slots, £50K). Incidents of
a year are spread evenly through it; deploys too, round-robin over the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.catalogue import Catalogue
from bot.domain.events import Person
from bot.domain.incident import Incident, Status
from bot.ports.store import DeployRecord, History

# The date the teams took their services over: incidents before it form the "operations" row.
TEAMS_FROM = datetime(2020, 1, 1, tzinfo=UTC)
FIRST_NUMBER = 90_001  # far above the live sandbox's numbers, so `/incident status <n>` never mixes the two


@dataclass(frozen=True)
class Year:
    year: int
    deploys: int
    incidents: tuple[tuple[str, float, float], ...]  # (catalogue service id, TTA minutes, TTR minutes)


def _many(service: str, pairs: list[tuple[float, float]]) -> tuple[tuple[str, float, float], ...]:
    return tuple((service, tta, ttr) for tta, ttr in pairs)


YEARS: tuple[Year, ...] = (
    # Operations ran everything: every incident restored in 2.7 band windows (Checkout 121.5 min of a 45 min
    # window, Basket API 648 min of 4 h, Delivery Slots 1134 min of 7 h): effectiveness 1 - 2.7 = -170%.
    Year(2019, 12,
         _many("checkout", [(10, 121.5), (15, 121.5), (20, 121.5), (25, 121.5), (30, 121.5), (35, 121.5),
                            (40, 121.5), (45, 121.5)])
         + _many("basket-api", [(20, 648), (25, 648), (30, 648), (35, 648), (30, 648), (35, 648), (40, 648),
                                (45, 648)])
         + _many("delivery-slots", [(20, 1134), (25, 1134), (35, 1134), (40, 1134)])),
    # Σ realised = £750Kx(2.0+0.8+0.4+0.4+0.2+0.2) + £500Kx(1.5+0.5+4x0.25) + £50Kx(1.0+0.6+0.4+0.4) = £4.62M of
    # £7.7M expected: 40%. Delivery Slots' 1.0 window is restored *within* its window: no loss counted.
    Year(2020, 240,
         _many("checkout", [(20, 90), (12, 36), (10, 18), (8, 18), (5, 9), (5, 9)])
         + _many("basket-api", [(15, 360), (10, 120), (10, 60), (8, 60), (8, 60), (9, 60)])
         + _many("delivery-slots", [(10, 420), (10, 252), (10, 168), (10, 168)])),
    # £750Kx1.5 + £500Kx0.64 + £50Kx0.6 = £1.475M of £5.9M: 75%.
    Year(2021, 960,
         _many("checkout", [(10, 49.5), (3, 4.5), (3, 4.5), (3, 4.5), (3, 4.5)])
         + _many("basket-api", [(6, 38.4), (6, 38.4), (5, 38.4), (5, 38.4)])
         + _many("delivery-slots", [(6, 84), (6, 84), (4, 84)])),
    # Everything restored in a tenth of its window: 90%.
    Year(2022, 2400,
         _many("checkout", [(2, 4.5), (2, 4.5), (2, 4.5), (2, 4.5)])
         + _many("basket-api", [(4, 24), (4, 24), (3, 24)])
         + _many("delivery-slots", [(4, 42), (4, 42), (3, 42)])),
)


def synthetic_history(catalogue: Catalogue) -> History:
    """The history as the store would hold it, for the catalogue's services (the example catalogue's ids)."""
    services = {s.id: s for s in catalogue.services}
    missing = sorted({service for year in YEARS for service, _, _ in year.incidents} - services.keys())
    if missing:
        raise ValueError(f"the synthetic history needs the example catalogue's services {missing}: use the bundled "
                         "catalogue (drop --catalogue) or add services with these ids")
    incidents: list[Incident] = []
    deploys: list[DeployRecord] = []
    ordered = sorted(services.values(), key=lambda s: s.id)
    for year in YEARS:
        start = datetime(year.year, 1, 1, tzinfo=UTC)
        length = datetime(year.year + 1, 1, 1, tzinfo=UTC) - start
        count = len(year.incidents)
        for k, (service_id, tta, ttr) in enumerate(year.incidents):
            service = services[service_id]
            # Spread through the year, on the hour: the k-th of n at (k + ½)/n of the way through.
            triggered = start + length * (k + 0.5) / count
            triggered = triggered.replace(minute=0, second=0, microsecond=0)
            number = FIRST_NUMBER + len(incidents)
            incidents.append(Incident(
                id=f"QSYN{number}", number=number, title=f"{service.name} degraded (synthetic history)",
                status=Status.RESOLVED, urgency="high", priority=None, service_id=service.pagerduty_service_id,
                service_name=service.name, escalation_policy_id=None, escalation_policy_name=None,
                html_url="", assignees=(Person("PSYNTH1", "Synthetic responder"),), triggered_at=triggered,
                acknowledged_at=triggered + timedelta(minutes=tta), resolved_at=triggered + timedelta(minutes=ttr),
                state_as_of=triggered + timedelta(minutes=ttr), dedicated_channel=False, trigger_seen=True))
        for k in range(year.deploys):
            service = ordered[k % len(ordered)]
            deploys.append(DeployRecord(id=f"synthetic-{year.year}-{k:05d}", service_id=service.pagerduty_service_id,
                                        occurred_at=start + length * (k + 0.5) / year.deploys,
                                        summary=f"Deploy {service.name}", source="synthetic"))
    return History(tuple(incidents), tuple(deploys))


def synthetic_span() -> tuple[datetime, datetime]:
    """The period the synthetic history covers: from the first year's start to the last year's end."""
    return datetime(YEARS[0].year, 1, 1, tzinfo=UTC), datetime(YEARS[-1].year + 1, 1, 1, tzinfo=UTC)
