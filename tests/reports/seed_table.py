"""The seed's table of incidents by period (README, 'Reports'), as the synthetic history must reproduce it: read by
the report's tests from the seeded database (test_reconstruction) and after an import from PagerDuty (test_import)."""

from __future__ import annotations

# Our reconstruction of the seed's table (README, 'Reports'): deploys, incidents, MTTA, MTTR (minutes), incidents
# with a financial loss, revenue protection effectiveness (%).
RECONSTRUCTED = [
    ("operations", 12, 20, 30.0, 534.6, 20, -170),
    ("2020", 240, 16, 10.0, 119.25, 2, 40),
    ("2021", 960, 12, 5.0, 39.425, 1, 75),
    ("2022", 2400, 10, 3.0, 21.6, 0, 90),
]
