"""What the catalogue implies for PagerDuty, band by band (pure: no emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalogue import load_catalogue, parse_catalogue
from bot.services.provisioning.desired import desired_state, hours, key_in, tag
from tests.helpers import PROVISIONING_CATALOGUE as CATALOGUE

EMAILS = {f"{n}@example.com" for n in ("asha.patel", "ben.okafor", "chloe.martin", "dev.sharma", "erin.walsh",
                                       "fatima.noor")}
IM = ("user/erin.walsh@example.com",)


@pytest.mark.parametrize(("service", "first_rule"), [
    ("checkout", ("schedule/team/payments/working-hours", "schedule/team/payments/out-of-hours")),  # High
    ("refunds", ("schedule/team/payments/working-hours", "schedule/domain/retail/out-of-hours")),  # Medium
    ("picking", ("schedule/team/warehouse/working-hours",)),  # Low
])
def test_each_band_pages_its_rotas_then_the_incident_manager(service: str, first_rule: tuple[str, ...]) -> None:
    state = desired_state(load_catalogue(CATALOGUE), known_emails=EMAILS, incident_manager=IM, bot_url="https://b")
    assert state.problems == []
    resources = state.by_key()
    policy = resources[str(resources[f"service/{service}"].fields["escalation_policy"])]
    assert policy.fields["rules"] == ((30, first_rule), (30, IM))
    assert resources[f"webhook_subscription/{service}"].fields["url"] == "https://b/pagerduty/webhook"


def test_a_band_with_nobody_on_call_pages_the_incident_manager_alone() -> None:
    catalogue = parse_catalogue({
        "incident_manager": {"escalation_policy_id": "PIM"},
        "teams": [{"id": "t", "name": "T"}],
        "services": [{"id": "s", "name": "S", "pagerduty_service_id": "new-s", "team": "t", "exposure": "£1K in 7h"}],
        "exposure_bands": [{"name": "Tiny", "max_exposure": "£5K in 7h", "availability": 95,
                            "working_hours": "none", "out_of_hours": "none"}],
    }, Path("x"))
    state = desired_state(catalogue, known_emails=EMAILS, incident_manager=IM, bot_url="https://b")
    assert state.by_key()["escalation_policy/t/tiny"].fields["rules"] == ((30, IM),)
    assert not [r for r in state.resources if r.kind == "schedule"]


def test_a_domain_band_for_a_team_without_a_domain_names_the_field() -> None:
    catalogue = parse_catalogue({
        "teams": [{"id": "t", "name": "T", "members": ["asha.patel@example.com"]}],
        "services": [{"id": "s", "name": "S", "pagerduty_service_id": "new-s", "team": "t", "exposure": "£400K in 4h"}],
    }, Path("x"))
    state = desired_state(catalogue, known_emails=EMAILS, incident_manager=(), bot_url="https://b")
    assert state.problems == ["services[0]: band Medium needs a product-domain rota out of hours, but team 't' has no "
                              "domain; set teams[0].domain"]


def test_the_tag_is_found_in_a_description_and_hours_read_like_a_rota() -> None:
    assert key_in(f"Basket {tag('team/basket')}") == "team/basket"
    assert key_in("made by hand [not ours]") is None and key_in(None) is None
    assert hours((("weekly_restriction", "17:30:00", 55800, 1),)) == ("Mon 17:30 for 15h30m",)
    assert hours(()) == ("all the time",)
