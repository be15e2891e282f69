"""Which rota covers a service in working hours and out of hours, and the problems the calculator flags."""

from __future__ import annotations

from bot.domain.coverage import Cover, RotaFacts, ServiceFacts, coverage
from bot.domain.exposure import Band

BANDS = (Band("Low", 50_000, 420, 99.0, "team", "none"), Band("Medium", 500_000, 240, 99.5, "team", "domain"),
         Band("High", 750_000, 45, 99.9, "team", "team"))
BASKET_DAY = RotaFacts("basket", team="basket", domain=None, out_of_hours=False)
PAYMENTS = RotaFacts("payments", team="payments", domain=None, out_of_hours=True)
RETAIL_NIGHTS = RotaFacts("retail-nights", team=None, domain="retail", out_of_hours=True)
ROTAS = (BASKET_DAY, PAYMENTS, RETAIL_NIGHTS)


def service(team: str, amount: float | None, window: float | None, domain: str | None = "retail") -> ServiceFacts:
    return ServiceFacts(f"{team}-svc", f"{team} service", team, domain, amount, window)


def test_each_level_finds_its_rota() -> None:
    low, medium, high = coverage([service("basket", 50_000, 420), service("basket", 500_000, 240),
                                  service("payments", 750_000, 45)], BANDS, ROTAS)
    assert (low.working_hours, low.out_of_hours) == (Cover("team", "basket"), Cover("none", None))
    assert (medium.working_hours, medium.out_of_hours) == (Cover("team", "basket"), Cover("domain", "retail-nights"))
    assert (high.working_hours, high.out_of_hours) == (Cover("team", "payments"), Cover("team", "payments"))
    assert (high.availability, high.error_budget_minutes, high.band and high.band.name) == (99.9, 43.2, "High")
    assert not (low.problems or medium.problems or high.problems)


def test_one_domain_rota_covers_several_teams_at_night() -> None:
    rows = coverage([service(team, 300_000, 240) for team in ("basket", "electricals", "fashion", "upholstery")],
                    BANDS, (*ROTAS, *(RotaFacts(t, t, None, False) for t in ("electricals", "fashion", "upholstery"))))
    assert {r.out_of_hours.rota for r in rows} == {"retail-nights"}
    assert [r.working_hours.rota for r in rows] == ["basket", "electricals", "fashion", "upholstery"]


def test_a_missing_team_rota_says_which_rota_to_add() -> None:
    [row] = coverage([service("fashion", 750_000, 45)], BANDS, ROTAS)
    assert row.working_hours == Cover("team", None) and row.out_of_hours == Cover("team", None)
    assert row.problems == (
        "band High needs team 'fashion' on call in working hours, and no rota covers it: add a rota with "
        "`team: fashion` under `rotas:`",
        "band High needs team 'fashion' on call out of hours, and no rota covers it: add a rota with "
        "`team: fashion` under `rotas:`")


def test_a_working_hours_rota_does_not_cover_the_nights() -> None:
    [row] = coverage([service("basket", 750_000, 45)], BANDS, ROTAS)
    assert row.working_hours == Cover("team", "basket") and row.out_of_hours == Cover("team", None)
    assert row.problems == ("band High needs team 'basket' on call out of hours, but its rota 'basket' has "
                            "`out_of_hours: false`: set `out_of_hours: true` on it (and put people on its PagerDuty "
                            "schedule at night) or add a rota for the nights",)


def test_a_missing_domain_rota_and_a_team_without_a_domain() -> None:
    [no_rota] = coverage([service("delivery", 500_000, 240, domain="fulfilment")], BANDS,
                         (*ROTAS, RotaFacts("delivery", "delivery", None, False)))
    assert no_rota.out_of_hours == Cover("domain", None)
    assert no_rota.problems == ("band Medium needs product domain 'fulfilment' on call out of hours, and no rota "
                                "covers it: add a rota with `domain: fulfilment` under `rotas:`",)
    [no_domain] = coverage([service("basket", 500_000, 240, domain=None)], BANDS, ROTAS)
    assert no_domain.problems == ("band Medium wants the product domain's rota out of hours, but team 'basket' has "
                                  "no product domain: set `domain:` on team 'basket'",)


def test_above_the_highest_band_is_flagged_and_still_covered() -> None:
    [row] = coverage([service("payments", 1_000_000, 30)], BANDS, ROTAS)
    assert row.above_highest and row.band is BANDS[-1]
    assert row.out_of_hours == Cover("team", "payments")
    assert row.problems == ("exposure is above the highest band (High): it gets High's targets, but the operating "
                            "model does not cover it — add a band or review the service",)


def test_a_service_without_exposure_has_no_band_and_says_how_to_declare_one() -> None:
    [row] = coverage([service("basket", None, None)], BANDS, ROTAS)
    assert row.band is None and row.availability is None and row.error_budget_minutes is None
    assert row.working_hours == Cover("none", None)
    assert "declares no financial exposure" in row.problems[0] and 'exposure: "£500K in 4h"' in row.problems[0]
