"""The PagerDuty emulator's fixtures (served emulator, real client) shared by its test modules."""

from tests.sandbox.test_pagerduty_emulator import (  # noqa: F401  (fixtures re-exported for sibling modules)
    client,
    example,
    make_sandbox,
    pd,
    receiver,
    validator,
)
