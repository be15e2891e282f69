"""The catalogue view `pavedroad report` keeps (bot/app/cli/report_catalogue.py) is used only while everything that
made it is unchanged: the view read back is the one a full validation gives; an edited catalogue, or an edited file
it extends, is validated in full again (a bad one refused with its problems, though a good one was kept before); a
changed module of the code that validated it does the same; and where nothing can be kept, each report validates."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from bot.app.cli.report_catalogue import report_catalogue_at
from bot.catalogue import CatalogueError, example_catalogue_path, load_catalogue, seed_catalogue_path
from bot.services.reports.placement import report_catalogue

BASE = """
teams: [{id: payments, name: Payments, domain: shop}]
domains: [{id: shop, name: Shop}]
reports: {teams_from: 2020-03-01}
"""
TOP = """
extends: base.yml
services:
  - {id: checkout, name: Checkout, pagerduty_service_id: PCHK, team: payments, exposure: £750K in 45m}
"""


def kept_views(cache: Path) -> list[Path]:
    return sorted((cache / "pavedroad").glob("*.json"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("path", [example_catalogue_path(), seed_catalogue_path()], ids=["example", "seed"])
def test_the_view_read_back_is_the_one_a_full_validation_gives(path: Path, cache: Path) -> None:
    validated = report_catalogue(load_catalogue(path))
    assert report_catalogue_at(path) == validated and len(kept_views(cache)) == 1
    assert report_catalogue_at(path) == validated  # now read back from what was kept


def test_an_edited_catalogue_is_validated_again(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    top = tmp_path / "catalogue.yml"
    top.write_text(TOP)
    assert set(report_catalogue_at(top).services) == {"PCHK"}
    top.write_text(TOP + "  - {id: refunds, name: Refunds, pagerduty_service_id: PREF, team: payments}\n")
    assert set(report_catalogue_at(top).services) == {"PCHK", "PREF"}
    top.write_text(TOP + "  - {id: refunds, name: Refunds, pagerduty_service_id: PREF, team: paymnets}\n")
    with pytest.raises(CatalogueError) as refused:
        report_catalogue_at(top)
    assert refused.value.problems == ["services[1].team: 'paymnets' is not a team id; add it under `teams:` or fix "
                                      "the spelling"]


def test_each_problem_of_a_refused_catalogue_is_its_own(tmp_path: Path, cache: Path) -> None:
    """Found by one check (the services' teams), three problems were one entry holding all three."""
    (tmp_path / "base.yml").write_text(BASE)
    top = tmp_path / "catalogue.yml"
    top.write_text(TOP.replace("team: payments", "team: paymnts") + "".join(
        f"  - {{id: s{i}, name: S{i}, pagerduty_service_id: PS{i}, team: paymnts}}\n" for i in (1, 2)))
    with pytest.raises(CatalogueError) as refused:
        report_catalogue_at(top)
    assert refused.value.problems == [f"services[{i}].team: 'paymnts' is not a team id; add it under `teams:` or fix "
                                      "the spelling" for i in range(3)]


def test_an_edited_base_is_validated_again(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    top = tmp_path / "catalogue.yml"
    top.write_text(TOP)
    assert report_catalogue_at(top).teams_from is not None and report_catalogue_at(top).services["PCHK"].domain
    (tmp_path / "base.yml").write_text(BASE.replace("reports: {teams_from: 2020-03-01}", "reports: {teams_frm: 1}"))
    with pytest.raises(CatalogueError) as refused:
        report_catalogue_at(top)
    assert refused.value.problems == ["reports.teams_frm: unknown field; remove it or check the spelling against "
                                      "the README's catalogue reference"]


def test_a_changed_module_of_the_validating_code_validates_again(tmp_path: Path, cache: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A module loaded when the view was kept (as the catalogue's own are), changed afterwards.
    (tmp_path / "code").mkdir()
    module = tmp_path / "code" / "validating_code_of_the_test.py"
    module.write_text("NUMBER = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    importlib.import_module("validating_code_of_the_test")
    (tmp_path / "base.yml").write_text(BASE)
    top = tmp_path / "catalogue.yml"
    top.write_text(TOP)
    report_catalogue_at(top)
    [view] = kept_views(cache)
    kept = view.read_text()
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    report_catalogue_at(top)
    assert view.read_text() != kept  # validated in full again, and kept anew
    assert str(module) in view.read_text()
    sys.modules.pop("validating_code_of_the_test", None)


def test_where_nothing_can_be_kept_each_report_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    assert report_catalogue_at(seed_catalogue_path()) == report_catalogue(load_catalogue(seed_catalogue_path()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG spec says
    assert report_catalogue_at(seed_catalogue_path()) == report_catalogue(load_catalogue(seed_catalogue_path()))
    assert not (tmp_path / "relative").exists()
