"""`pavedroad report` on the synthetic history stored in a real database: the outputs of every grouping
snapshot-tested, the chart drawn without a display, bad flags refused. (The seed's table itself, by model:
test_seed_table.)

Snapshots live in tests/reports/snapshots/. After a deliberate change to the output, rewrite them with
`UPDATE_SNAPSHOTS=1 pytest tests/reports` and review the diff.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sqlite3
import struct
from pathlib import Path

import numpy
import pytest
from matplotlib.patches import Rectangle

from bot.app.cli.main import main
from bot.catalogue import Catalogue
from bot.render.chart import MTTA_LABEL, MTTR_LABEL, build_figure, render_png
from bot.services.reports.request import compute, make_request
from bot.services.reports.synthetic import synthetic_history

SNAPSHOTS = Path(__file__).parent / "snapshots"

@pytest.fixture(autouse=True)
def example_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshots are of the example catalogue, whatever catalogue a developer's environment names."""
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


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with UPDATE_SNAPSHOTS=1 to write it, then review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: if meant, UPDATE_SNAPSHOTS=1 and review"


@pytest.mark.parametrize(("name", "flags"), [
    ("period.txt", ["--by", "period"]),
    ("period.csv", ["--by", "period", "--format", "csv"]),
    ("period.json", ["--by", "period", "--format", "json"]),
    ("team-2020.txt", ["--by", "team", "--from", "2020-01-01", "--to", "2021-01-01"]),
    ("service.csv", ["--by", "service", "--format", "csv"]),
    ("domain.json", ["--by", "domain", "--from", "2020-01-01", "--format", "json"]),
    ("year.txt", ["--by", "year"]),
    ("model.txt", ["--by", "model"]),
    ("model.csv", ["--by", "model", "--format", "csv"]),
    ("model.json", ["--by", "model", "--format", "json"]),
    ("empty.txt", ["--from", "2030-01-01"]),
])
def test_report_outputs_match_their_snapshots(seeded_db: Path, capsys: pytest.CaptureFixture[str], name: str,
                                              flags: list[str]) -> None:
    check_snapshot(name, report(capsys, seeded_db, *flags))


def test_csv_has_the_documented_columns(seeded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reader = csv.DictReader(io.StringIO(report(capsys, seeded_db, "--format", "csv")))
    assert reader.fieldnames == ["group", "deploys", "incidents", "tta_count", "tta_mean_s", "tta_p50_s",
                                 "tta_p90_s", "ttr_count", "ttr_mean_s", "ttr_p50_s", "ttr_p90_s",
                                 "incidents_with_loss", "expected_loss", "realised_loss", "effectiveness"]
    assert [r["group"] for r in reader] == ["2019", "2020"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_chart_is_a_png_of_mtta_mttr_over_time_and_effectiveness_by_team(
        seeded_db: Path, tmp_path: Path, seed_catalogue: Catalogue, capsys: pytest.CaptureFixture[str]) -> None:
    catalogue = seed_catalogue
    chart = tmp_path / "chart.png"
    report(capsys, seeded_db, "--chart", str(chart))
    assert png_size(chart.read_bytes()) == (1100, 450)
    # The series drawn, read back from the figure (not from pixels).
    result = compute(synthetic_history(catalogue), catalogue, make_request(catalogue))
    figure = build_figure(result.trend, result.by_team)
    over_time, teams = figure.axes
    lines = {line.get_label(): line for line in over_time.get_lines()}
    assert set(lines) == {MTTA_LABEL, MTTR_LABEL}
    months = {i.triggered_at.strftime("%Y-%m") for i in synthetic_history(catalogue).incidents}
    mttr, mtta = (numpy.asarray(lines[label].get_ydata(), dtype=float) for label in (MTTR_LABEL, MTTA_LABEL))
    assert len(mttr) == len(result.trend) == len(months)  # a point a month with incidents
    first_mtta = result.trend[0].mtta
    assert first_mtta is not None
    assert list(mtta)[:1] == [pytest.approx(first_mtta / 60)]
    assert [t.get_text() for t in teams.get_xticklabels()] == ["accounts", "basket", "erp", "payments",
                                                               "warehouse-systems"]
    heights = []
    for bar in teams.patches:
        assert isinstance(bar, Rectangle)
        heights.append(bar.get_height())
    # Teams with no incident (the example catalogue has teams the synthetic history never pages) have no bar.
    assert heights == pytest.approx([100 * r.effectiveness for r in result.by_team if r.effectiveness is not None])
    assert png_size(render_png([], [])) == (1100, 450)  # an empty history still draws


@pytest.mark.parametrize(("flags", "message"), [
    (["--from", "2021-13-01"], "`--from 2021-13-01` is not a date: write it as YYYY-MM-DD"),
    (["--from", "2022-01-01", "--to", "2021-01-01"], "is not before `--to 2021-01-01`"),
    (["--teams-from", "soon"], "`--teams-from soon` is not a date"),
])
def test_bad_flags_are_refused_naming_the_flag(seeded_db: Path, capsys: pytest.CaptureFixture[str],
                                               flags: list[str], message: str) -> None:
    assert main(["report", "--db", str(seeded_db), *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_database_or_one_without_history_is_explained(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no database at" in capsys.readouterr().err
    sqlite3.connect(tmp_path / "empty.db").close()  # a new, empty file: seeding it makes it the bot's
    assert main(["report", "--db", str(tmp_path / "empty.db")]) == 2
    err = capsys.readouterr().err
    assert "has no incident history" in err and "pavedroad history seed --db PATH" in err


def test_another_applications_database_is_said_to_be_not_the_bots(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """It was told to be seeded, which `history seed` then refuses: the advice must lead to the bot's file."""
    other = tmp_path / "crm.db"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    assert main(["report", "--db", str(other)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (f"pavedroad report: {other} is not the bot's database (it holds other tables): give --db the "
                    "file the bot runs on ($PAVEDROAD_DB or pavedroad.db; the sandbox's is sandbox.db)"), line
    assert main(["history", "seed", "--db", str(other)]) == 2  # and seeding it is refused, as before
    assert "is not the bot's database (it holds other tables)" in capsys.readouterr().err


def test_a_database_path_that_is_a_directory_or_no_sqlite_file_is_explained(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Both ended in a traceback (sqlite3's "disk I/O error", "file is not a database"), where `inbox failed` said.
    (tmp_path / "folder").mkdir()
    assert main(["report", "--db", str(tmp_path / "folder")]) == 2
    assert f"{tmp_path / 'folder'} is a directory: give the bot's database file with --db" in capsys.readouterr().err
    (tmp_path / "notes.db").write_text("not a database at all\n", encoding="utf-8")
    assert main(["report", "--db", str(tmp_path / "notes.db")]) == 2
    assert "has no incident history (file is not a database): is it the bot's database?" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["folder", "notes.db", "missing-folder/new.db"])
def test_seeding_a_database_that_cannot_be_written_is_explained(tmp_path: Path, where: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # A directory, a file that is not SQLite, a folder that does not exist: each ended in a sqlite3 traceback.
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.db").write_text("not a database at all\n", encoding="utf-8")
    assert main(["history", "seed", "--db", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pavedroad history: cannot write to the SQLite database {tmp_path / where} (") and \
        err.rstrip().endswith("): give --db the bot's database, or a new file in a folder that exists"), err


def test_seeding_another_applications_database_is_refused_and_leaves_it_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bot's tables were added to whatever SQLite file --db named; a new or empty file still becomes the bot's."""
    other = tmp_path / "notes.db"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = other.read_bytes()
    assert main(["history", "seed", "--db", str(other)]) == 2
    assert other.read_bytes() == before
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pavedroad history: {other} is not the bot's database") and "--db" in line, line


def test_period_needs_the_date_teams_took_over(seeded_db: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bare = tmp_path / "catalogue.yml"
    bare.write_text("teams: []\n")
    assert main(["report", "--db", str(seeded_db), "--catalogue", str(bare), "--by", "period"]) == 2
    assert "`--by period` needs the date teams began" in capsys.readouterr().err


def test_seeding_twice_adds_nothing_the_second_time(seeded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["history", "seed", "--db", str(seeded_db)]) == 0
    assert "Added 0 incidents and 0 deploys" in capsys.readouterr().out


@pytest.mark.parametrize(("where", "why"), [
    ("missing/dir/chart.png", "the folder"),  # a folder that does not exist
    ("", "is a folder"),  # a folder, not a file
])
def test_a_chart_path_that_cannot_be_written_is_refused_before_the_report(
        seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, why: str) -> None:
    chart = tmp_path / where if where else tmp_path
    capsys.readouterr()
    assert main(["report", "--db", str(seeded_db), "--chart", str(chart)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before the report is computed: no table, then a traceback
    assert err.count("\n") == 1 and err.startswith(f"pavedroad report: `--chart {chart}`")
    assert why in err and "--chart" in err


def test_a_chart_that_fails_to_write_is_said_in_one_line(
        seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    chart = tmp_path / "chart.png"

    def refuse(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_bytes", refuse)
    capsys.readouterr()
    assert main(["report", "--db", str(seeded_db), "--chart", str(chart)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write the chart to {chart}" in err and "Permission denied" in err
