"""A catalogue may extend another (`extends:`): the bundled seed catalogue is the example one with the seed's
platform added. Lists follow the base's, sections merge key by key, other values replace; a loop or a base that is
no catalogue is refused naming the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from bot.app.cli.main import main
from bot.catalogue import CatalogueError, example_catalogue_path, load_catalogue, seed_catalogue_path

BASE = """
teams: [{id: basket, name: Basket}]
services: [{id: basket-api, name: Basket API, pagerduty_service_id: PBASKET, team: basket}]
channels: {pattern: "inc-{number}-{slug}", operators_channel: ops}
reports: {teams_from: 2020-01-01}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_lists_follow_the_bases_and_sections_merge_key_by_key(tmp_path: Path) -> None:
    write(tmp_path, "base.yml", BASE)
    child = write(tmp_path, "child.yml", """
extends: base.yml
teams: [{id: erp, name: ERP}]
services: [{id: erp-orders, name: ERP Orders, pagerduty_service_id: PERP, team: erp, operating_model: operations}]
channels: {operators_channel: paved-road-ops}
reports: {teams_from: 2019-01-01}
""")
    catalogue = load_catalogue(child)
    assert [t.id for t in catalogue.teams] == ["basket", "erp"]
    assert [(s.id, s.operating_model) for s in catalogue.services] == [("basket-api", None),
                                                                       ("erp-orders", "operations")]
    assert (catalogue.channels.pattern, catalogue.channels.operators_channel) == ("inc-{number}-{slug}",
                                                                                  "paved-road-ops")
    assert str(catalogue.reports.teams_from) == "2019-01-01"


def test_the_seed_catalogue_is_the_example_with_the_seeds_platform() -> None:
    example, seed = load_catalogue(example_catalogue_path()), load_catalogue(seed_catalogue_path())
    assert seed.services[:len(example.services)] == example.services
    assert seed.rotas == example.rotas and seed.sandbox == example.sandbox
    assert len(seed.services) == 49 and {s.operating_model for s in seed.services} == {None, "operations"}


@pytest.mark.parametrize(("files", "problem"), [
    ({"a.yml": "extends: b.yml\n", "b.yml": "extends: a.yml\n"}, "extends this file again"),
    ({"a.yml": "extends: missing.yml\n"}, "file not found"),
    ({"a.yml": "extends: b.yml\n", "b.yml": "- just a list\n"}, "is not a catalogue"),
    ({"a.yml": "extends: b.yml\nteams: [{id: x, name: X}]\nservices: [{id: s, name: S, "
               "pagerduty_service_id: P1, team: nope}]\n", "b.yml": BASE}, "services[1].team: 'nope'"),
])
def test_a_bad_base_is_refused_naming_the_problem(tmp_path: Path, files: dict[str, str], problem: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(CatalogueError) as refused:
        load_catalogue(tmp_path / "a.yml")
    assert problem in "; ".join(refused.value.problems)


@pytest.mark.parametrize(("make", "problem"), [
    (lambda path: path.mkdir(), "is a directory, not a file: give the path of the catalogue YAML file itself "
                                "(CATALOGUE_PATH, or --catalogue where a command takes it)"),
    (lambda path: path.write_bytes(b"\xff\xfeteams: []\n"), "not UTF-8 text (byte 0 is 0xff): save it as UTF-8"),
    (lambda path: path.write_text("- just a list\n", encoding="utf-8"),
     "not a catalogue: the file must be a YAML mapping (teams:, services:, …), as in bot/example_catalogue.yml"),
])
def test_a_catalogue_path_that_cannot_be_read_is_a_problem_saying_what_to_do(
        tmp_path: Path, make: Callable[[Path], object], problem: str) -> None:
    # `check-config` and `serve` print a CatalogueError's problems; a directory or a file in another encoding
    # (a ConfigMap mounted wrongly, a file saved as UTF-16) ended in a traceback instead.
    path = tmp_path / "catalogue.yml"
    make(path)
    with pytest.raises(CatalogueError) as refused:
        load_catalogue(path)
    assert refused.value.problems == [problem]


@pytest.mark.parametrize("command", [["check-config"], ["calculate", "--catalogue", "top.yml"],
                                     ["report", "--catalogue", "top.yml"]])
def test_a_missing_base_is_named_by_every_command_not_the_file_that_extends_it(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # check-config and calculate said "catalogue top.yml: file not found", though top.yml is there.
    write(tmp_path, "top.yml", "extends: missing-base.yml\n" + BASE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALOGUE_PATH", "top.yml")
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "missing-base.yml: file not found" in err or "missing-base.yml has 1 problem(s):" in err, err
    assert "top.yml: file not found" not in err and "top.yml has" not in err, err


async def test_a_reload_refused_for_a_missing_base_logs_the_missing_file(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    from bot.app.cli.main import reload_catalogue
    from bot.app.runtime import Bot

    top = write(tmp_path, "top.yml", "extends: missing-base.yml\n" + BASE)
    assert not await reload_catalogue(cast(Bot, None), top)  # refused before the bot is touched
    assert f"{tmp_path / 'missing-base.yml'}: file not found" in caplog.text, caplog.text
