"""`pavedroad provision` through the command line's own parser: configuration problems are named, nothing runs."""

from __future__ import annotations

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
