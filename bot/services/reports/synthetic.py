"""The sandbox's synthetic incident history, built to reproduce the seed's cost/benefit table.

The operating model's published figures (../shared/seed-figures.md) include a table of two operating models side by
side over two years: scale (services, teams, rotas), deploys and their cadence, MTTA, MTTR, incidents with a revenue
loss and revenue protection effectiveness. This history, on the seed catalogue's services (`bot/seed_catalogue.yml`:
the example catalogue plus the seed's platform), gives `pavedroad report --by model` exactly those figures: every
count, MTTA and MTTR to the minute (here exactly), effectiveness to the percent. `tests/reports/test_seed_table.py`
keeps it so. The figures are the seed's; the incidents behind them are ours (illustrative, no real organisation).

How each row is met (bands: High = 45 min window, Medium = 4 h, Low = 7 h; see bot/domain/reports.py):
- Scale: a service counts in a year when it deploys or has an incident then; deploys go round-robin over the year's
  services, so every listed service counts. Rotas follow from the services' bands (the catalogues say which).
- Product teams' incidents are on Checkout and Customer Sign-in (£750K in 45 min, High) and Basket API (£500K in 4 h,
  Medium); operations' on ERP (£600K in 45 min, High) and Warehouse Management (£40K in 7 h, Low). With every TTA
  equal, MTTA is exact; the TTRs were chosen so that the mean is the seed's minute exactly and effectiveness rounds
  to the seed's percent (2019: 1 - [(4 x 46/45 + 9 x 6/45) x £750K + 2 x 211/240 x £500K] /
  (13 x £750K + 2 x £500K) = 54.9%).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.catalogue import Catalogue
from bot.domain.events import Person
from bot.domain.incident import Incident, Status
from bot.ports.incident_history import DeployRecord, History

FIRST_NUMBER = 90_001  # far above the live sandbox's numbers, so `/incident status <n>` never mixes the two

# The example catalogue's services: product teams run them (the seed catalogue's reports.teams_from is 2019).
EXAMPLE = ("basket-api", "checkout", "delivery-slots", "refunds", "electricals-catalogue", "fashion-catalogue",
           "upholstery-configurator", "warehouse-picking", "delivery-tracking", "sign-in", "site-search",
           "recommendations")
PRODUCT_2019 = (
    *EXAMPLE, "loyalty-api", "gift-cards-api", "wishlist-api", "reviews-api", "store-finder-api", "click-collect-api",
    "returns-api", "pricing-api", "promotions-api", "content-web", "newsletters-web", "size-guide-web",
    "product-images-web", "loyalty-admin", "gift-cards-admin", "wishlist-admin")
PRODUCT_2020 = (
    *PRODUCT_2019, "mobile-app-api", "order-tracking-api", "personalisation-web", "experiments-web",
    "accessibility-web", "store-stock-web", "voice-web", "reviews-batch", "store-finder-batch", "click-collect-batch",
    "returns-batch", "pricing-batch", "promotions-batch", "content-batch", "newsletters-batch", "size-guide-batch")
OPERATIONS_2019 = ("erp-orders", "erp-finance", "warehouse-wms", "warehouse-labels", "finance-ledger")
OPERATIONS_2020 = OPERATIONS_2019[:4]  # the general ledger was retired at the end of 2019


@dataclass(frozen=True)
class ModelYear:
    """One row of the seed's table: the services that ran that year, its deploys, and its incidents as (catalogue
    service id, minutes to acknowledge, minutes to restore)."""

    model: str
    year: int
    services: tuple[str, ...]
    deploys: int
    incidents: tuple[tuple[str, float, float], ...]


def _many(services: tuple[str, ...], count: int, tta: float, ttr: float) -> tuple[tuple[str, float, float], ...]:
    """`count` incidents, taking the services in turn."""
    return tuple((services[k % len(services)], tta, ttr) for k in range(count))


HIGH_PRODUCT = ("checkout", "sign-in")
ERP = ("erp-orders", "erp-finance")
ROWS: tuple[ModelYear, ...] = (
    # 28 services, 22 teams, 14 rotas; 3,387 deploys; MTTA 2 min, MTTR 44 min; 4 with a loss; 55%.
    ModelYear("product teams", 2019, PRODUCT_2019, 3387,
              _many(HIGH_PRODUCT, 4, 2, 46) + _many(HIGH_PRODUCT, 9, 2, 6) + _many(("basket-api",), 2, 2, 211)),
    # 44 services, 29 teams, 16 rotas; 4,220 deploys; MTTA 2 min, MTTR 27 min; 3 with a loss; 39%.
    ModelYear("product teams", 2020, PRODUCT_2020, 4220,
              _many(HIGH_PRODUCT, 3, 2, 46) + _many(HIGH_PRODUCT, 1, 2, 6) + _many(("basket-api",), 2, 2, 9)),
    # 5 services, 3 teams, 1 rota; 170 deploys; MTTA 39 min, MTTR 2 h; 14 with a loss; -170%.
    ModelYear("operations", 2019, OPERATIONS_2019, 170,
              _many(ERP, 14, 39, 122) + _many(("warehouse-wms",), 1, 39, 92)),
    # 4 services, 2 teams, 1 rota; 162 deploys; MTTA 6 min, MTTR 1 h; 7 with a loss; 10%.
    ModelYear("operations", 2020, OPERATIONS_2020, 162,
              _many(ERP, 7, 6, 46) + _many(ERP, 2, 6, 22) + _many(("warehouse-wms",), 1, 6, 234)),
)


def synthetic_history(catalogue: Catalogue) -> History:
    """The history as the store would hold it, on the seed catalogue's services."""
    services = {s.id: s for s in catalogue.services}
    wanted = {service for row in ROWS for service in row.services}
    missing = sorted(wanted - services.keys())
    if missing:
        raise ValueError(f"the synthetic history needs the seed catalogue's services ({len(missing)} missing, e.g. "
                         f"{missing[:3]}): use the bundled seed catalogue (drop --catalogue, or give "
                         "bot/seed_catalogue.yml) or a catalogue that extends it")
    incidents: list[Incident] = []
    deploys: list[DeployRecord] = []
    for row in ROWS:
        start = datetime(row.year, 1, 1, tzinfo=UTC)
        length = datetime(row.year + 1, 1, 1, tzinfo=UTC) - start
        for k, (service_id, tta, ttr) in enumerate(row.incidents):
            service = services[service_id]
            # Spread through the year, on the hour: the k-th of n at (k + ½)/n of the way through.
            triggered = (start + length * (k + 0.5) / len(row.incidents)).replace(minute=0, second=0,
                                                                                   microsecond=0)
            number = FIRST_NUMBER + len(incidents)
            incidents.append(Incident(
                id=f"QSYN{number}", number=number, title=f"{service.name} degraded (synthetic history)",
                status=Status.RESOLVED, urgency="high", priority=None, service_id=service.pagerduty_service_id,
                service_name=service.name, escalation_policy_id=None, escalation_policy_name=None,
                html_url="", assignees=(Person("PSYNTH1", "Synthetic responder"),), triggered_at=triggered,
                acknowledged_at=triggered + timedelta(minutes=tta), resolved_at=triggered + timedelta(minutes=ttr),
                state_as_of=triggered + timedelta(minutes=ttr), dedicated_channel=False, trigger_seen=True))
        model = row.model.replace(" ", "-")
        for k in range(row.deploys):
            service = services[row.services[k % len(row.services)]]
            deploys.append(DeployRecord(id=f"synthetic-{model}-{row.year}-{k:05d}",
                                        service_id=service.pagerduty_service_id,
                                        occurred_at=start + length * (k + 0.5) / row.deploys,
                                        summary=f"Deploy {service.name}", source="synthetic"))
    return History(tuple(incidents), tuple(deploys))


def synthetic_span() -> tuple[datetime, datetime]:
    """The period the synthetic history covers: from the first year's start to the last year's end."""
    years = [row.year for row in ROWS]
    return datetime(min(years), 1, 1, tzinfo=UTC), datetime(max(years) + 1, 1, 1, tzinfo=UTC)
