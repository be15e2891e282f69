"""`pavedroad report` starts light: run as its own process, as a person runs it, it loads the report's own modules,
not the store's ports, the incident model, asyncio, the stores' drivers or the bot's runtime; and once it has
validated a catalogue in full, the next report on the same catalogue starts from the view it kept, without the
catalogue's validation (pydantic) or its YAML. (Its start-up is a fixed cost of every report:
docs/figures-journal.md, "Reports at 100,000 incidents".)"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.adapters.store.sqlite.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]

# Prints, as the command exits, every module it loaded (after its own output).
RUN_REPORT = r'''
import atexit, runpy, sys
atexit.register(lambda: print("MODULES", " ".join(sorted(sys.modules))))
sys.argv = ["pavedroad", *sys.argv[1:]]
runpy.run_module("bot.app.cli.main", run_name="__main__")
'''

# What a report does not need: every store port and the domain's incident model behind them, an event loop (SQLite
# is read with plain sqlite3), the stores' drivers, the bot's runtime and outside systems' clients.
NOT_LOADED = ("bot.ports.store", "bot.domain.incident", "bot.domain.effects", "bot.adapters.store.codec",
              "bot.app.runtime", "asyncio", "sqlite_utils", "psycopg", "aiohttp", "slack_bolt", "httpx", "matplotlib")
# What it validates a catalogue with, which it needs only when it has no view kept of that very catalogue.
VALIDATION = ("bot.catalogue", "pydantic", "yaml")


def loaded_by_a_report(tmp_path: Path, cache: Path) -> set[str]:
    db = tmp_path / "bot.db"
    if not db.exists():
        conn = sqlite3.connect(db, isolation_level=None)
        migrate(conn)
        conn.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "ERROR", "XDG_CACHE_HOME": str(cache)}
    env.pop("PAVEDROAD_DATABASE_URL", None)
    env.pop("CATALOGUE_PATH", None)
    done = subprocess.run([sys.executable, "-c", RUN_REPORT, "report", "--db", str(db), "--by", "service"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report, _, modules = done.stdout.rpartition("MODULES ")
    assert report.strip() == "No incidents or deploys in this period."
    return set(modules.split())


def test_a_report_loads_neither_the_store_ports_nor_the_incident_model(tmp_path: Path) -> None:
    loaded = loaded_by_a_report(tmp_path, tmp_path / "cache")
    assert "bot.services.reports.aggregate" in loaded
    assert sorted(name for name in NOT_LOADED if name in loaded) == []


def test_the_next_report_on_the_same_catalogue_starts_without_validating_it(tmp_path: Path) -> None:
    first = loaded_by_a_report(tmp_path, tmp_path / "cache")
    assert {name for name in VALIDATION if name in first} == set(VALIDATION)  # validated in full, then kept
    again = loaded_by_a_report(tmp_path, tmp_path / "cache")
    assert "bot.services.reports.aggregate" in again
    assert sorted(name for name in (*VALIDATION, *NOT_LOADED) if name in again) == []
