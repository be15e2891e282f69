"""What the catalogue implies for PagerDuty, band by band (pure: no emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalogue import load_catalogue, parse_catalogue
from bot.services.provisioning.coverage import cover_warnings
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


def _medium_team(team_rota: dict[str, object], domain_rota: dict[str, object] | None = None) -> list[str]:
    """The cover warnings of one Medium service: its team's rota as given, its domain's (if any) as given."""
    rotas = [{"id": "t", "name": "T", "pagerduty_schedule_id": "PT", "slack_channel": "t", "team": "t"} | team_rota]
    if domain_rota is not None:
        rotas.append({"id": "d", "name": "D", "pagerduty_schedule_id": "PD", "slack_channel": "d", "domain": "d"}
                     | domain_rota)
    return cover_warnings(parse_catalogue({
        "domains": [{"id": "d", "name": "D"}], "teams": [{"id": "t", "name": "T", "domain": "d"}],
        "services": [{"id": "s", "name": "S", "pagerduty_service_id": "new-s", "team": "t", "exposure": "£400K in 4h"}],
        "rotas": rotas}, Path("x")))


def test_a_team_day_and_a_domain_night_of_the_same_hours_leave_no_warning() -> None:
    """Found in review (the Medium band's daily gap): hours alike are no gap, even written in another zone's rota."""
    assert _medium_team({}) == []  # both default: 09:00-17:30 Europe/London
    assert _medium_team({"working_hours": ["08:00", "16:00"], "time_zone": "Europe/Paris"},
                        {"working_hours": ["08:00", "16:00"], "time_zone": "Europe/Paris"}) == []
    assert _medium_team({"working_hours": ["09:00", "17:30"], "time_zone": "Europe/Lisbon"}) == []  # London's clock


def test_a_team_day_and_a_domain_night_in_zones_that_change_clocks_apart_warn_for_part_of_the_year() -> None:
    """Found in review (the Medium band's daily gap): New York and London change their clocks weeks apart, so hours
    that meet most of the year (09:00-17:30 in New York, 14:00-22:30 in London) leave a gap in the evening and an
    overlap in the morning for those weeks; the warning says so, and for how long."""
    [warning] = _medium_team({"working_hours": ["09:00", "17:30"], "time_zone": "America/New_York"},
                             {"working_hours": ["14:00", "22:30"], "time_zone": "Europe/London"})
    assert warning.startswith("on-call cover of S (band Medium): team 't' is on call 09:00-17:30 America/New_York "
                              "(rotas[0]) and domain 'd' out of hours from 22:30 to 14:00 Europe/London (rotas[1])")
    assert "nobody on either rota is on call from 17:30 America/New_York to 22:30 Europe/London during 4 week(s) a " \
           "year (the two time zones change their clocks on different dates)" in warning  # March's 3, and 1 in autumn
    assert "both paged, from 09:00 America/New_York to 14:00 Europe/London during 4 week(s) a year" in warning
