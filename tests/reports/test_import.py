"""Backfilling from PagerDuty's REST API: the sandbox's PagerDuty holds the synthetic history, the importer reads it
back through the API (validated against PagerDuty's OpenAPI document), and the report reproduces the seed's table."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.pagerduty.history_import import MAX_WINDOW, windows
from bot.app.cli.main import main
from bot.render.report import row_record
from bot.services.reports.request import compute, make_request
from bot.services.reports.synthetic import synthetic_history
from sandbox.world import RunningSandbox, seed_running
from tests.reports.seed_table import SEED, SEED_DEPLOYS, SEED_INCIDENTS, seed_figures


async def test_the_sandbox_history_imported_from_pagerduty_reproduces_the_seed_table(
        seed_sandbox: RunningSandbox) -> None:
    sandbox = seed_sandbox
    assert await seed_running(sandbox) == (SEED_INCIDENTS, SEED_DEPLOYS)
    catalogue = sandbox.sandbox.catalogue
    history = await sandbox.bot.store.report_history()
    rows = compute(history, catalogue, make_request(catalogue, "model")).rows
    assert seed_figures([row_record(r) for r in rows]) == SEED
    # ...exactly the figures of the synthetic history itself: nothing lost or shifted on the way through the API.
    direct = compute(synthetic_history(catalogue), catalogue, make_request(catalogue, "model")).rows
    assert rows == direct
    # The times came from PagerDuty's log entries: the first acknowledgement, the resolve.
    assert sandbox.sandbox.pagerduty.calls["GET /incidents/{id}/log_entries"] == SEED_INCIDENTS
    assert sandbox.sandbox.pagerduty.calls["GET /change_events"] > 0
    assert sandbox.sandbox.state()["pagerduty"]["change_events"] == SEED_DEPLOYS


async def test_importing_again_adds_nothing_and_keeps_what_the_bot_recorded(seed_sandbox: RunningSandbox) -> None:
    sandbox = seed_sandbox
    await seed_running(sandbox)
    client_history = await sandbox.bot.store.report_history()
    from bot.adapters.pagerduty.history_import import client_for, fetch_history
    with client_for(sandbox.sandbox.keys.pagerduty_api_token, f"{sandbox.url}/sandbox/pagerduty/api") as client:
        again = await asyncio.to_thread(fetch_history, client, datetime(2019, 1, 1, tzinfo=UTC),
                                        datetime(2023, 1, 1, tzinfo=UTC))
    assert await sandbox.bot.store.add_history(again.incidents, again.deploys, 0.0) == (0, 0)
    assert len((await sandbox.bot.store.report_history()).incidents) == len(client_history.incidents)


async def test_the_cli_imports_a_period_from_pagerduty(seed_sandbox: RunningSandbox, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    sandbox = seed_sandbox
    history = synthetic_history(sandbox.sandbox.catalogue)
    sandbox.sandbox.pagerduty.history.add(history.incidents, history.deploys)
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", sandbox.sandbox.keys.pagerduty_api_token)
    monkeypatch.setenv("PAGERDUTY_API_URL", f"{sandbox.url}/sandbox/pagerduty/api")
    db = tmp_path / "imported.db"
    # The CLI is synchronous; the sandbox serves on this event loop, so the CLI runs on a thread.
    assert await asyncio.to_thread(main, ["history", "import", "--from", "2020-01-01", "--to", "2021-01-01",
                                          "--db", str(db)]) == 0
    assert "16 resolved incidents (16 new) and 4382 deploys (4382 new)" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["report", "--db", str(db), "--by", "model", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert seed_figures(rows) == [row for row in SEED if row[1] == 2020]


async def test_the_cli_import_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PAGERDUTY_API_TOKEN", raising=False)
    assert main(["history", "import", "--from", "2021-01-01", "--db", str(tmp_path / "x.db")]) == 2
    assert "PAGERDUTY_API_TOKEN is not set" in capsys.readouterr().err


async def test_the_import_reads_the_api_key_from_its_file_as_serve_does(sandbox: RunningSandbox, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # With the key mounted as a file (PAGERDUTY_API_TOKEN_FILE, as the Kubernetes recipe's secrets may be), the
    # import said "PAGERDUTY_API_TOKEN is not set".
    (tmp_path / "pagerduty-token").write_text(sandbox.sandbox.keys.pagerduty_api_token + "\n", encoding="utf-8")
    monkeypatch.delenv("PAGERDUTY_API_TOKEN", raising=False)
    monkeypatch.setenv("PAGERDUTY_API_TOKEN_FILE", str(tmp_path / "pagerduty-token"))
    monkeypatch.setenv("PAGERDUTY_API_URL", f"{sandbox.url}/sandbox/pagerduty/api")
    assert await asyncio.to_thread(main, ["history", "import", "--from", "2021-01-01", "--to", "2021-02-01",
                                          "--db", str(tmp_path / "x.db")]) == 0, capsys.readouterr().err
    assert "Imported from PagerDuty (2021-01-01 to 2021-02-01)" in capsys.readouterr().out


async def test_a_refused_api_key_is_explained(sandbox: RunningSandbox, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "not-the-key")
    monkeypatch.setenv("PAGERDUTY_API_URL", f"{sandbox.url}/sandbox/pagerduty/api")
    assert await asyncio.to_thread(main, ["history", "import", "--from", "2021-01-01", "--to", "2021-02-01",
                                          "--db", str(tmp_path / "x.db")]) == 2
    assert "HTTP 401" in capsys.readouterr().err


@pytest.mark.parametrize(("days", "count"), [(0, 0), (1, 1), (180, 1), (181, 2), (4 * 365 + 1, 9)])
def test_periods_are_read_in_windows_of_at_most_180_days(days: int, count: int) -> None:
    start = datetime(2019, 1, 1, tzinfo=UTC)
    cut = list(windows(start, start + timedelta(days=days)))
    assert len(cut) == count
    assert all(b - a <= MAX_WINDOW for a, b in cut)
    assert all(cut[i][1] == cut[i + 1][0] for i in range(len(cut) - 1))  # no gap, no overlap


async def api_get(running: RunningSandbox, path: str) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Token token={running.sandbox.keys.pagerduty_api_token}",
               "Accept": "application/vnd.pagerduty+json;version=2"}
    async with aiohttp.ClientSession() as session, session.get(f"{running.url}/sandbox/pagerduty/api{path}",
                                                               headers=headers) as response:
        return response.status, await response.json()


async def test_change_events_are_listed_newest_first_within_utc_since_until(seed_sandbox: RunningSandbox) -> None:
    sandbox = seed_sandbox
    history = synthetic_history(sandbox.sandbox.catalogue)
    sandbox.sandbox.pagerduty.history.add(history.incidents, history.deploys)
    status, body = await api_get(sandbox, "/change_events?since=2019-01-01T00:00:00Z&until=2020-01-01T00:00:00Z"
                                          "&limit=100&total=true")
    assert status == 200 and body["total"] == 3387 + 170
    events = body["change_events"]
    assert isinstance(events, list)
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps, reverse=True) and all(s.startswith("2019-") for s in stamps)
    assert events[0]["services"][0]["type"] == "service_reference"
    status, body = await api_get(sandbox, "/change_events?since=2019-01-01T00:00:00%2B01:00")
    assert status == 400 and "UTC" in json.dumps(body)


async def test_incidents_are_filtered_by_since_and_until_unless_date_range_is_all(
        seed_sandbox: RunningSandbox) -> None:
    sandbox = seed_sandbox
    history = synthetic_history(sandbox.sandbox.catalogue)
    sandbox.sandbox.pagerduty.history.add(history.incidents, history.deploys)
    status, body = await api_get(sandbox, "/incidents?since=2020-01-01T00:00:00Z&until=2021-01-01T00:00:00Z"
                                          "&statuses[]=resolved&total=true")
    assert status == 200 and body["total"] == 16
    status, body = await api_get(sandbox, "/incidents?since=2020-01-01T00:00:00Z&date_range=all&total=true")
    assert status == 200 and body["total"] == SEED_INCIDENTS
