"""Any variable may be given as `<NAME>_FILE` (README, *Configuration reference*): for every command that reads it,
not only for the settings `serve` loads. Before, `check-config`, `serve`, `provision`, `report`, `history import` and
`inbox` read CATALOGUE_PATH, PAVEDROAD_DB, PAGERDUTY_API_URL and LOG_LEVEL from the environment alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.cli.main import main
from bot.app.healthcheck import check
from bot.catalogue import example_catalogue_path

GOOD_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_API_TOKEN": "t",
            "PAGERDUTY_WEBHOOK_SECRETS": "secret"}


@pytest.fixture(autouse=True)
def nothing_given_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what each test gives: a developer's own CATALOGUE_PATH or PAVEDROAD_DB must not make a test pass."""
    monkeypatch.chdir(tmp_path)  # no catalogue.yml nor pavedroad.db to fall back on
    for name in ("CATALOGUE_PATH", "PAVEDROAD_DB", "PAVEDROAD_DATABASE_URL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def mounted(tmp_path: Path, name: str, value: str) -> str:
    """A file holding `value` as a mounted secret or ConfigMap key would (a trailing newline), and its path."""
    path = tmp_path / name
    path.write_text(value + "\n", encoding="utf-8")
    return str(path)


def test_check_config_reads_the_catalogue_path_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CATALOGUE_PATH_FILE", mounted(tmp_path, "catalogue-path", str(example_catalogue_path())))
    assert main(["check-config"]) == 0
    assert "Configuration OK: 12 services" in capsys.readouterr().out


def test_a_catalogue_path_file_that_cannot_be_read_is_named_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CATALOGUE_PATH_FILE", str(tmp_path / "missing"))
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert err.count(f"CATALOGUE_PATH_FILE: cannot read {str(tmp_path / 'missing')!r}") == 1
    # `provision` reads the catalogue on its own: it names the file too, and changes nothing.
    monkeypatch.setenv("PAVEDROAD_PUBLIC_URL", "https://pavedroad.example.com")
    assert main(["provision", "plan"]) == 2
    assert f"CATALOGUE_PATH_FILE: cannot read {str(tmp_path / 'missing')!r}" in capsys.readouterr().err


def test_report_reads_the_database_and_the_catalogue_path_from_their_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.db"
    assert main(["history", "seed", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--catalogue", str(example_catalogue_path()), "--format", "csv"]) == 0
    named = capsys.readouterr().out
    monkeypatch.setenv("PAVEDROAD_DB_FILE", mounted(tmp_path, "db-path", str(db)))
    monkeypatch.setenv("CATALOGUE_PATH_FILE", mounted(tmp_path, "catalogue-path", str(example_catalogue_path())))
    assert main(["report", "--format", "csv"]) == 0
    assert capsys.readouterr().out == named


def test_inbox_reads_the_database_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "bot.db"
    assert main(["migrate", "--db", str(db)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("PAVEDROAD_DB_FILE", mounted(tmp_path, "db-path", str(db)))
    assert main(["inbox", "failed"]) == 0
    assert f"No quarantined deliveries in {db}." in capsys.readouterr().out


def test_the_logging_level_may_come_from_its_file(tmp_path: Path) -> None:
    # A process of its own: logging is configured once per process (the test run's own handlers would hide it).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_LEVEL", "CATALOGUE_PATH"))}
    shown = "import logging, sys; from bot.app.cli.main import main; main(sys.argv[1:]); " \
            "print(logging.getLevelName(logging.getLogger().level))"

    def level_of(extra: dict[str, str]) -> str:
        return subprocess.run([sys.executable, "-c", shown, "calculate", "--format", "csv"], env={**env, **extra},
                              cwd=tmp_path, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    assert level_of({"LOG_LEVEL_FILE": mounted(tmp_path, "level", "WARNING")}) == "WARNING"
    # One that cannot be read leaves logging at INFO (check-config and serve name it); the command still runs.
    assert level_of({"LOG_LEVEL_FILE": str(tmp_path / "missing")}) == "INFO"


def test_calculate_reads_the_catalogue_path_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # It printed the bundled example's figures, exit 0, whatever catalogue CATALOGUE_PATH_FILE named.
    monkeypatch.setenv("CATALOGUE_PATH_FILE", mounted(tmp_path, "catalogue-path", str(tmp_path / "nowhere.yml")))
    assert main(["calculate", "--format", "csv"]) == 2
    assert f"Catalogue {tmp_path / 'nowhere.yml'}" in capsys.readouterr().err
    monkeypatch.setenv("CATALOGUE_PATH_FILE", str(tmp_path / "missing"))
    assert main(["calculate", "--format", "csv"]) == 2
    assert f"CATALOGUE_PATH_FILE: cannot read {str(tmp_path / 'missing')!r}" in capsys.readouterr().err


def test_the_health_check_says_in_one_line_that_the_port_file_cannot_be_read(tmp_path: Path) -> None:
    healthy, line = check({"PORT_FILE": str(tmp_path / "missing")})
    assert not healthy and line.startswith("PORT_FILE: cannot read")
