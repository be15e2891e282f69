"""Reports (found in review, session 25): `--teams-from` moves the operating model's cut as reports.teams_from does
(it overrides it, as its help says), and the seed's table rounds halves one way (up), not to the even number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app.cli.main import main
from bot.domain.reports import ReportRow, Scale, Summary
from bot.render.report import model_cells


def test_teams_from_on_the_command_line_moves_the_operating_model_cut_as_the_catalogues_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # `--teams-from` is "when teams began running their own services (overrides reports.teams_from)", and the JSON
    # says `"teams_from": "2020-01-01…"`; but by model the rows still cut at the catalogue's 2019-01-01, so the
    # document contradicts itself. Setting the same date in the catalogue moves 2019 to operations (33 services,
    # test_seed_table); the flag should do the same.
    monkeypatch.delenv("CATALOGUE_PATH", raising=False)
    monkeypatch.delenv("PAVEDROAD_DB", raising=False)
    db = tmp_path / "history.db"
    assert main(["history", "seed", "--db", str(db)]) == 0
    capsys.readouterr()

    assert main(["report", "--db", str(db), "--by", "model", "--teams-from", "2020-01-01", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert document["teams_from"].startswith("2020-01-01")
    groups = [row["group"] for row in document["rows"]]
    assert "product teams 2019" not in groups, groups


def test_the_seed_table_rounds_half_a_minute_the_same_way_every_time() -> None:
    # Two incidents acknowledged in 2 and 3 minutes average 2.5 min; in 3 and 4 minutes, 3.5 min. "To the minute",
    # both halves should go the same way; Python's round() (half to even) prints "2 min" for one and "4 min" for the
    # other. Likewise a 54.5% effectiveness prints 54% but 55.5% prints 56%.
    def row(tta_minutes: float, effectiveness: float) -> ReportRow:
        seconds = tta_minutes * 60
        return ReportRow(group="product teams 2020", deploys=0, incidents=2, tta=Summary(2, seconds, seconds, seconds),
                         ttr=Summary(0, None, None, None), incidents_with_loss=0, expected_loss=0.0,
                         realised_loss=0.0, effectiveness=effectiveness,
                         scale=Scale("product teams", 2020, 1, 1, 1, "none"))

    cells = model_cells([row(2.5, 0.545), row(3.5, 0.555)])
    assert [(c[7], c[10]) for c in cells] == [("3 min", "55%"), ("4 min", "56%")], cells
