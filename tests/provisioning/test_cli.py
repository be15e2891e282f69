"""`pavedroad provision` through the command line's own parser: configuration problems are named, nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.cli.main import main
from tests.helpers import PROVISIONING_CATALOGUE as CATALOGUE


def test_provision_without_a_token_or_public_url_names_both(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("PAGERDUTY_API_TOKEN", "PAVEDROAD_PUBLIC_URL", "PAGERDUTY_API_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["provision", "plan", "--catalogue", str(CATALOGUE)]) == 2
    err = capsys.readouterr().err
    assert "PAGERDUTY_API_TOKEN: not set" in err and "PAVEDROAD_PUBLIC_URL: not set" in err


def test_provision_with_a_missing_catalogue_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "token")
    monkeypatch.setenv("PAVEDROAD_PUBLIC_URL", "https://pavedroad.example.com")
    assert main(["provision", "apply", "--prune", "--catalogue", f"{tmp_path}/nope.yml"]) == 2
    assert "nope.yml: file not found" in capsys.readouterr().err


def test_provision_needs_plan_or_apply(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["provision", "destroy"])
    assert "invalid choice: 'destroy'" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["", "# the catalogue\n", "teams: []\n"])
def test_provision_prune_with_a_catalogue_listing_no_service_is_refused_before_anything_runs(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    # A ConfigMap key mounted empty must not prune every service, schedule and escalation policy the bot manages.
    # The PagerDuty URL is a closed port: a plan that started would fail there, not with exit 2 and this message.
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "token")
    monkeypatch.setenv("PAVEDROAD_PUBLIC_URL", "https://pavedroad.example.com")
    monkeypatch.setenv("PAGERDUTY_API_URL", "http://127.0.0.1:9")
    catalogue = tmp_path / "catalogue.yml"
    catalogue.write_text(text, encoding="utf-8")
    assert main(["provision", "apply", "--prune", "--catalogue", str(catalogue),
                 "--secrets-file", str(tmp_path / "secrets.txt")]) == 2
    err = capsys.readouterr().err
    assert "lists no service, and --prune would delete everything" in err and str(catalogue) in err
    assert not (tmp_path / "secrets.txt").exists()
