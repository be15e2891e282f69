"""The seed's cost/benefit table in its own shape: `pavedroad report --by model` on the synthetic history gives one
row per operating model and year with the seed's figures, in JSON, CSV and as a table; the README shows it beside
the source's figures."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.app.cli.main import main
from bot.catalogue import Catalogue
from bot.domain.reports import cadence
from bot.services.reports.request import compute, make_request
from bot.services.reports.synthetic import synthetic_history
from tests.reports.seed_table import SEED, seed_figures

README = Path(__file__).parent.parent.parent / "README.md"


@pytest.fixture(autouse=True)
def bundled_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOGUE_PATH", raising=False)
    monkeypatch.delenv("PAVEDROAD_DB", raising=False)


@pytest.fixture
def seeded_db(tmp_path: Path) -> Path:
    db = tmp_path / "history.db"
    assert main(["history", "seed", "--db", str(db)]) == 0
    return db


def report(capsys: pytest.CaptureFixture[str], db: Path, *flags: str) -> str:
    capsys.readouterr()
    assert main(["report", "--db", str(db), *flags]) == 0
    return capsys.readouterr().out


def test_report_by_model_reproduces_the_seeds_table(seeded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(report(capsys, seeded_db, "--by", "model", "--format", "json"))
    assert document["by"] == "model"
    assert seed_figures(document["rows"]) == SEED
    # MTTA and MTTR are the seed's minutes exactly, not merely rounded to them.
    assert [(r["tta_mean_s"], r["ttr_mean_s"]) for r in document["rows"]] == [
        (mtta * 60.0, mttr * 60.0) for *_, mtta, mttr, _, _ in SEED]
    # The other groupings' fields are all there too, with `model` and `year` added.
    first = document["rows"][0]
    assert first["group"] == "product teams 2019"
    assert {"deploys", "incidents", "tta_p50_s", "ttr_p90_s", "expected_loss", "realised_loss"} <= first.keys()


def test_csv_and_table_by_model(seeded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(report(capsys, seeded_db, "--by", "model", "--format", "csv"))))
    assert [(r["model"], r["year"], r["services"], r["teams"], r["rotas"], r["cadence"]) for r in rows] == [
        (m, str(y), str(s), str(t), str(r), c) for m, y, s, t, r, _, c, *_ in SEED]
    table = report(capsys, seeded_db, "--by", "model")
    assert table.splitlines()[0].split() == ["Model", "Year", "Services", "Teams", "Rotas", "Deploys", "Cadence",
                                             "MTTA", "MTTR", "With", "loss", "Revenue", "protected"]
    assert "operations     2019         5      3      1      170  1 a week        39 min     2 h         14" in table


def test_the_readme_shows_the_table_beside_the_sources_figures(seeded_db: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    readme = README.read_text(encoding="utf-8")
    assert report(capsys, seeded_db, "--by", "model") in readme
    # The source's own figures, as ../shared/seed-figures.md gives them, stand beside it.
    for source_row in ("| product teams (digital services) | 2019 | 28 | 22 | 14 | 3,387 | 1 every 2 days | 2 min "
                       "| 44 min | 4 | 55% |",
                       "| operations (managed service, COTS) | 2019 | 5 | 3 | 1 | 170 | 1 a week | 39 min | "
                       "2 hours | 14 | \u2212170% |"):  # the source's minus sign
        assert source_row in readme


def test_a_service_without_an_operating_model_follows_teams_from(seed_catalogue: Catalogue) -> None:
    # The seed catalogue's product teams ran their services from 2019: with the date moved to 2020, the 2019
    # incidents and deploys of every service without an operating model are operations', and the managed services
    # (operating_model: operations) stay operations' throughout.
    moved = seed_catalogue.model_copy(update={"reports": seed_catalogue.reports.model_copy(
        update={"teams_from": seed_catalogue.reports.teams_from.replace(year=2020)
                if seed_catalogue.reports.teams_from else None})})
    rows = compute(synthetic_history(moved), moved, make_request(moved, "model")).rows
    scale = [(r.scale.model, r.scale.year, r.scale.services) for r in rows if r.scale]
    assert scale == [("product teams", 2020, 44), ("operations", 2019, 33), ("operations", 2020, 4)]


@pytest.mark.parametrize(("deploys", "services", "year", "words"), [
    (3387, 28, 2019, "1 every 2 days"), (4220, 44, 2020, "1 every 3 days"), (170, 5, 2019, "1 a week"),
    (162, 4, 2020, "1 a week"), (261, 1, 2019, "1 a day"), (600, 1, 2019, "2 a day"), (26, 1, 2019,
                                                                                         "1 every 2 weeks"),
    (12, 1, 2019, "1 a month"), (4, 1, 2019, "1 every 3 months"), (0, 5, 2019, "none"), (5, 0, 2019, "none"),
])
def test_cadence_in_words(deploys: int, services: int, year: int, words: str) -> None:
    assert cadence(deploys, services, year) == words


def test_by_model_on_the_text_of_incident_report(seed_catalogue: Catalogue) -> None:
    from bot.services.reports.request import request_from_text
    assert request_from_text(seed_catalogue, "--by model").by == "model"
