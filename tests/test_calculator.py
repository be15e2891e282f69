"""The calculator over a catalogue: `pavedroad calculate`, the catalogue's exposure rules, finding a service by
name, and the money at stake as the incident card words it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app.cli.main import main
from bot.app.scheduler import MONEY_REFRESH_MINUTES, build_scheduler
from bot.catalogue import Catalogue, CatalogueError, example_catalogue_path, parse_catalogue
from bot.domain.events import Person
from bot.domain.incident import Incident, Status
from bot.errors import UserError
from bot.render.card import card_blocks, loss_text
from bot.render.format import minutes, money
from bot.services.calculator import find_service, incident_exposure, service_coverage


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(example_catalogue_path().read_text())
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CatalogueError) as error:
        parse_catalogue(data, Path("catalogue.yml"))
    return error.value.problems


# -- the example organisation --------------------------------------------------------------------------------------

def test_a_dozen_services_in_three_domains_each_with_a_target_and_cover(catalogue: Catalogue) -> None:
    rows = service_coverage(catalogue)
    assert len(rows) == 12 and len({r.service.domain for r in rows}) == 3
    assert all(r.band and r.working_hours.rota for r in rows) and not any(r.problems for r in rows)
    by_id = {r.service.id: r for r in rows}
    assert (by_id["checkout"].availability, by_id["checkout"].out_of_hours.rota) == (99.9, "payments")
    assert (by_id["delivery-slots"].availability, by_id["delivery-slots"].out_of_hours.level) == (99.0, "none")
    # The seed's example: one person a night for basket, electricals, fashion and upholstery.
    nights = {r.service.team for r in rows if r.out_of_hours.rota == "retail-nights"}
    assert {"basket", "electricals", "fashion", "upholstery"} <= nights


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["calculate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_calculate_prints_each_services_target_and_on_call(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOGUE_PATH", raising=False)
    code, out, err = run(capsys)
    assert code == 0 and "bundled example catalogue" in err
    lines = out.splitlines()
    assert lines[0].split() == ["band", "max", "exposure", "availability", "error", "budget", "/", "30", "days",
                                "working", "hours", "out", "of", "hours"]
    assert lines[3].split() == ["High", "£750K", "in", "45", "min", "99.9%", "43.2", "min", "team", "team"]
    checkout = next(line for line in lines if line.startswith("checkout "))
    assert checkout.split() == ["checkout", "payments", "retail", "£750K", "in", "45", "min", "High", "99.9%", "43.2",
                                "min", "team", "rota", "(payments)", "team", "rota", "(payments)"]
    basket = next(line for line in lines if line.startswith("basket-api "))
    assert "216 min" in basket and "domain rota (retail-nights)" in basket
    assert lines[-1] == "12 services; no problems."


def test_calculate_as_csv_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(example_catalogue_path())
    code, out, _ = run(capsys, "--catalogue", path, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 12
    assert {k: rows[0][k] for k in ("service", "band", "availability", "error_budget_minutes_per_30_days",
                                    "working_hours_rota", "out_of_hours_level", "out_of_hours_rota")} == {
        "service": "basket-api", "band": "Medium", "availability": "99.5", "error_budget_minutes_per_30_days": "216.0",
        "working_hours_rota": "basket", "out_of_hours_level": "domain", "out_of_hours_rota": "retail-nights"}
    code, out, _ = run(capsys, "--catalogue", path, "--format", "json")
    data = json.loads(out)
    assert [b["error_budget_minutes_per_30_days"] for b in data["bands"]] == [432.0, 216.0, 43.2]
    sign_in = next(s for s in data["services"] if s["service"] == "sign-in")
    assert (sign_in["band"], sign_in["exposure_amount"], sign_in["exposure_window_minutes"]) == ("High", 750000, 45)


def test_calculate_flags_and_check_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = example()
    data["services"].append({"id": "gift-cards", "name": "Gift Cards", "pagerduty_service_id": "PGIFTCD",
                             "team": "payments", "exposure": "£1M in 30m"})
    data["rotas"] = [r for r in data["rotas"] if r["id"] != "customer-nights"]
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    code, out, _ = run(capsys, "--catalogue", str(path))
    assert code == 0
    assert "gift-cards" in out and "High (ABOVE HIGHEST)" in out and "domain rota (MISSING)" in out
    assert "13 services; 2 problem(s):" in out
    assert "  - site-search: band Medium needs product domain 'customer' on call out of hours, and no rota covers " \
           "it: add a rota with `domain: customer` under `rotas:`" in out
    assert "  - gift-cards: exposure is above the highest band (High)" in out
    assert run(capsys, "--catalogue", str(path), "--check")[0] == 1
    assert run(capsys, "--catalogue", str(example_catalogue_path()), "--check")[0] == 0


def test_calculate_with_a_broken_catalogue_exits_2_naming_the_field(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    data = example()
    data["services"][0]["exposure"] = "a lot"
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    code, _, err = run(capsys, "--catalogue", str(path))
    assert code == 2 and "services[0].exposure: cannot read exposure 'a lot'" in err
    code, _, err = run(capsys, "--catalogue", str(tmp_path / "missing.yml"))
    assert code == 2 and "file not found" in err


def test_each_catalogue_problem_is_counted_and_listed_on_its_own(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    """Three services naming an unknown team were "1 problem(s):" over one bullet holding all three."""
    data = example()
    for service in data["services"][:3]:
        service["team"] = "paymnts"
    path = tmp_path / "typo.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    code, _, err = run(capsys, "--catalogue", str(path))
    assert code == 2
    assert err.splitlines() == [f"Catalogue {path} has 3 problem(s):"] + [
        f"  - services[{i}].team: 'paymnts' is not a team id; add it under `teams:` or fix the spelling"
        for i in range(3)]


@pytest.mark.parametrize("command", [["report"], ["emulators", "--port", "0", "--bot-url", "http://127.0.0.1:9"]])
def test_report_and_emulators_list_catalogue_problems_one_a_line(command: list[str], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # They printed every problem on one line, joined by "; " (each problem has a "; " of its own inside).
    data = example()
    for service in data["services"][:2]:
        service["team"] = "paymnts"
    path = tmp_path / "typo.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert main([*command, "--catalogue", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"pavedroad {command[0]}: catalogue {path} has 2 problems:"] + [
        f"  - services[{i}].team: 'paymnts' is not a team id; add it under `teams:` or fix the spelling"
        for i in range(2)]


# -- the catalogue's exposure rules ------------------------------------------------------------------------------

@pytest.mark.parametrize(("exposure", "expected"), [
    ("£500K in 0h", "services[0].exposure: exposure '£500K in 0h' has no window: the time must be longer than zero"),
    ("£500K", "services[0].exposure: cannot read exposure '£500K': write it like '£500K in 4h'"),
    ("-£5K in 4h", "services[0].exposure: cannot read exposure '-£5K in 4h'"),
])
def test_an_odd_exposure_names_the_field(exposure: str, expected: str) -> None:
    data = example()
    data["services"][0]["exposure"] = exposure
    assert any(expected in p for p in problems_of(data)), problems_of(data)


def test_a_zero_exposure_is_the_lowest_band() -> None:
    data = example()
    data["services"][0]["exposure"] = "£0 in 4h"
    [row] = service_coverage(parse_catalogue(data, Path("catalogue.yml")))[:1]
    assert row.band is not None and row.band.name == "Low" and not row.problems


def test_bands_must_be_listed_least_severe_first() -> None:
    data = example()
    data["exposure_bands"].reverse()
    problems = problems_of(data)
    assert any("exposure_bands[1] ('Medium').availability: 99.5 must be higher than High's 99.9" in p
               for p in problems), problems


def test_bands_without_the_section_are_the_seeds() -> None:
    data = example()
    del data["exposure_bands"]
    catalogue = parse_catalogue(data, Path("catalogue.yml"))
    assert [(b.name, b.max_exposure.amount, b.max_exposure.window_minutes, b.availability, b.working_hours,
             b.out_of_hours) for b in catalogue.exposure_bands] == [
        ("Low", 50_000, 420, 99.0, "team", "none"), ("Medium", 500_000, 240, 99.5, "team", "domain"),
        ("High", 750_000, 45, 99.9, "team", "team")]


def test_one_currency_across_bands_and_services() -> None:
    data = example()
    data["services"][2]["exposure"] = "$50K in 7h"
    assert problems_of(data) == [
        "services[2].exposure: in '$' but the catalogue's exposures are in '£'; use one currency across "
        "`exposure_bands` and services (a bare amount such as '500K in 4h' takes the catalogue's)"]


def test_a_bare_amount_takes_the_catalogues_currency() -> None:
    data = example()
    data["exposure_bands"] = [dict(b, max_exposure=b["max_exposure"].replace("£", "€"))
                              for b in data["exposure_bands"]]
    for s in data["services"]:
        s["exposure"] = s["exposure"].replace("£", "")
    catalogue = parse_catalogue(data, Path("catalogue.yml"))
    assert catalogue.currency == "€"
    exposure = incident_exposure(catalogue, "PCHECKO")
    assert exposure is not None and exposure.currency == "€" and exposure.amount == 750_000


def test_a_band_with_a_bad_target_names_the_field() -> None:
    data = example()
    data["exposure_bands"][0]["availability"] = 100
    data["exposure_bands"][1]["out_of_hours"] = "sometimes"
    problems = problems_of(data)
    assert any(p.startswith("exposure_bands[0].availability: Input should be less than 100") for p in problems)
    assert any(p.startswith("exposure_bands[1].out_of_hours: Input should be 'team', 'domain' or 'none'")
               for p in problems), problems


# -- finding a service --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["checkout", "Checkout", "CHECKOUT ", "PCHECKO"])
def test_a_service_is_found_by_id_name_or_pagerduty_id(name: str, catalogue: Catalogue) -> None:
    assert find_service(catalogue, name).id == "checkout"
    assert find_service(catalogue, "delivery  slots").id == "delivery-slots"


@pytest.mark.parametrize(("name", "expected"), [
    ("baskit-api", "I don't know a service called `baskit-api`. Did you mean `basket-api`?"),
    ("catalogue", "Did you mean `fashion-catalogue`, `electricals-catalogue`?"),  # closest first
    ("zzz", "I don't know a service called `zzz`. Services in the catalogue: `basket-api`, `checkout`"),
    ("", "Which service? `/incident service <name>`, e.g. `basket-api`, `checkout`, `delivery-slots`."),
])
def test_an_unknown_service_lists_close_matches(name: str, expected: str, catalogue: Catalogue) -> None:
    with pytest.raises(UserError) as error:
        find_service(catalogue, name)
    assert expected in str(error.value)


# -- wording ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "text"), [(210_000, "£210K"), (209_600, "£210K"), (1_200_000, "£1.2M"),
                                               (750_000, "£750K"), (1_000_000, "£1M"), (2_500, "£2.5K"),
                                               (500, "£500"), (0, "£0"), (12_000_000, "£12M")])
def test_money(amount: float, text: str) -> None:
    assert money(amount, "£") == text


@pytest.mark.parametrize(("value", "text"), [(45, "45 min"), (22.5, "22.5 min"), (240, "4 h"), (90, "1 h 30 min"),
                                             (420, "7 h"), (0, "0 min")])
def test_minutes(value: float, text: str) -> None:
    assert minutes(value) == text


T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def incident(service_id: str = "PCHECKO", resolved_after: float | None = None) -> Incident:
    return Incident(id="Q1", number=7, title="Checkout returns 500s",
                    status=Status.RESOLVED if resolved_after is not None else Status.TRIGGERED, urgency="high",
                    priority=None, service_id=service_id, service_name="Checkout", escalation_policy_id=None,
                    escalation_policy_name=None, html_url="https://pd/incidents/Q1",
                    assignees=(Person("P1", "Ben Okafor"),), triggered_at=T0, acknowledged_at=None,
                    resolved_at=T0 + timedelta(minutes=resolved_after) if resolved_after is not None else None,
                    state_as_of=T0, dedicated_channel=True)


@pytest.mark.parametrize(("after", "resolved_after", "text"), [
    (27, None, "£450K at risk so far · 18 min left of a 45 min window"),
    (26.5, None, "£442K at risk so far · 19 min left of a 45 min window"),
    (44.5, None, "£742K at risk so far · 1 min left of a 45 min window"),
    (0, None, "£0 at risk so far · 45 min left of a 45 min window"),
    (57, None, "£750K lost — exposure window passed 12 min ago"),
    (45, None, "£750K lost — exposure window passed 0 min ago"),
    (500, 9, "£150K realised loss — restored after 9 min, of a 45 min window"),
    (500, 90.5, "£1.5M realised loss — restored after 1 h 30 min, of a 45 min window"),  # the reports' figure
    (500, 0.5, "£8.3K realised loss — restored after under a minute, of a 45 min window"),
])
def test_the_money_at_stake_on_the_card(after: float, resolved_after: float | None, text: str,
                                        catalogue: Catalogue) -> None:
    exposure = incident_exposure(catalogue, "PCHECKO")
    assert exposure is not None
    assert loss_text(incident(resolved_after=resolved_after), exposure, T0 + timedelta(minutes=after)) == text


def test_the_card_shows_the_money_only_for_a_service_with_an_exposure(catalogue: Catalogue) -> None:
    now = T0 + timedelta(minutes=27)
    blocks = card_blocks(incident(), now, exposure=incident_exposure(catalogue, "PCHECKO"))
    [money_block] = [b for b in blocks if b.get("block_id") == "money_at_stake"]
    assert money_block["text"]["text"] == ("💸 *£450K at risk so far · 18 min left of a 45 min window*  ·  High "
                                           "exposure band")
    assert incident_exposure(catalogue, "PUNKNOWN") is None
    assert not [b for b in card_blocks(incident("PUNKNOWN"), now) if b.get("block_id") == "money_at_stake"]


def test_the_money_at_stake_has_its_own_job_every_minute() -> None:
    async def nothing() -> None:
        return None

    scheduler = build_scheduler(nothing, refresh_money_cards=nothing)
    job = scheduler.get_job("refresh-money-at-stake")
    assert job is not None and job.trigger.interval == timedelta(minutes=MONEY_REFRESH_MINUTES) == timedelta(minutes=1)
    assert scheduler.get_job("refresh-open-cards").trigger.interval == timedelta(minutes=5)
