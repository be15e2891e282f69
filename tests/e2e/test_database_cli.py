"""`pavedroad migrate` and `pavedroad serve` on the database PAVEDROAD_DATABASE_URL names, as real processes: migrate
says what it applied (then that nothing is left), and serve facing a database it cannot open prints one line naming
the variable and the fix — never the password — and exits 2 before it listens."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.store.postgres.migrations import MIGRATIONS
from bot.adapters.store.postgres.store import PostgresStore
from bot.app.cli.main import main
from bot.catalogue import example_catalogue_path
from bot.ports.store import Skip
from tests.pg_cluster import PASSWORD, PASSWORD_USER, PostgresCluster, free_port
from tests.store.contract.builders import deliver, trigger

ROOT = str(Path(__file__).resolve().parents[2])  # this checkout's code, whatever the venv has installed
# Everything serve needs but the database.
SERVE_ENV = {"SLACK_BOT_TOKEN": "xoxb-db-test", "SLACK_SIGNING_SECRET": "db-signing", "PAGERDUTY_API_TOKEN": "db-token",
             "PAGERDUTY_WEBHOOK_SECRETS": "db-webhook-secret", "LOG_LEVEL": "INFO"}


def pavedroad(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.app.cli.main", *args], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_migrate_applies_every_migration_once_and_says_which(postgres_cluster: PostgresCluster,
                                                            tmp_path: Path) -> None:
    database = postgres_cluster.fresh_database(migrated=False)
    url = postgres_cluster.url(database, user=PASSWORD_USER, password=PASSWORD)
    env = {"PAVEDROAD_DATABASE_URL": url, "PYTHONPATH": ROOT}
    first = pavedroad("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    where = f"PostgreSQL at postgresql://{PASSWORD_USER}:***@127.0.0.1:{postgres_cluster.port}/{database}"
    numbers = ", ".join(str(n) for n in range(1, len(MIGRATIONS) + 1))
    assert first.stdout.strip() == f"{where}: applied migration(s) {numbers}; the schema is now at version " \
                                   f"{len(MIGRATIONS)}."
    again = pavedroad("migrate", env=env, cwd=tmp_path)
    assert again.stdout.strip() == f"{where}: up to date (schema version {len(MIGRATIONS)}); nothing to apply."
    assert PASSWORD not in first.stdout + first.stderr + again.stdout + again.stderr
    assert not list(tmp_path.glob("*.db"))  # no SQLite file was made on the side
    postgres_cluster.drop_database(database)


def test_migrate_without_the_url_migrates_sqlite(tmp_path: Path) -> None:
    env = {"PYTHONPATH": ROOT, "PAVEDROAD_DATABASE_URL": ""}
    done = pavedroad("migrate", "--db", str(tmp_path / "bot.db"), env=env, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith(f"SQLite at {tmp_path / 'bot.db'}: applied migration(s) 1,")


def test_serve_exits_2_with_one_line_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = f"postgresql://pavedroad:{PASSWORD}@127.0.0.1:{free_port()}/pavedroad"
    env = {**SERVE_ENV, "CATALOGUE_PATH": str(example_catalogue_path()), "PAVEDROAD_DATABASE_URL": url,
           "PYTHONPATH": ROOT}
    served = pavedroad("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert served.returncode == 2
    [line] = served.stderr.strip().splitlines()
    assert line.startswith("pavedroad serve: PAVEDROAD_DATABASE_URL: cannot open the database at "
                           "postgresql://pavedroad:***@127.0.0.1:")
    assert "Connection refused" in line and "unset PAVEDROAD_DATABASE_URL to use SQLite" in line
    assert PASSWORD not in served.stdout + served.stderr


def test_serve_exits_2_when_the_password_is_wrong(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    wrong = "Not-the-right-0ne"
    env = {**SERVE_ENV, "CATALOGUE_PATH": str(example_catalogue_path()), "PYTHONPATH": ROOT,
           "PAVEDROAD_DATABASE_URL": postgres_cluster.url("postgres", user=PASSWORD_USER, password=wrong)}
    served = pavedroad("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert served.returncode == 2
    [line] = served.stderr.strip().splitlines()
    assert "PAVEDROAD_DATABASE_URL" in line and "password authentication failed" in line
    assert wrong not in served.stdout + served.stderr


def test_inbox_and_report_work_on_the_postgresql_database(postgres_cluster: PostgresCluster,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """With PAVEDROAD_DATABASE_URL set, `inbox failed`, `inbox retry` and `report` read and change PostgreSQL (not
    an SQLite file that happens to be there)."""
    database = postgres_cluster.fresh_database()
    url = postgres_cluster.url(database)

    async def quarantine_one() -> str:
        store = PostgresStore(url)
        await store.open()
        try:
            await deliver(store, "d1", incident_id="QCLI")
            await store.apply_pending(lambda row, incident: Skip("failed", "cannot read QCLI"), now=1.0)
            await store.add_history([trigger("QOLD").incident], [], 1.0)  # type: ignore[list-item]
            [failed] = await store.failed_deliveries()
            return failed.reference
        finally:
            await store.close()

    reference = asyncio.run(quarantine_one())
    monkeypatch.setenv("PAVEDROAD_DATABASE_URL", url)
    assert main(["inbox", "failed"]) == 0
    listed = capsys.readouterr().out
    assert reference in listed and "cannot read QCLI" in listed
    assert main(["inbox", "retry", reference]) == 0
    assert main(["inbox", "retry", reference]) == 2  # pending now, no longer quarantined
    assert main(["inbox", "failed"]) == 0
    assert "No quarantined deliveries." in capsys.readouterr().out
    assert main(["report", "--by", "year", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(row["incidents"] for row in report["rows"]) == 1
    postgres_cluster.drop_database(database)


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_migrate_and_serve_leave_another_applications_sqlite_file_untouched(tmp_path: Path, command: str) -> None:
    """PAVEDROAD_DB (or --db) pointing at another application's database (a typo in a volume path): the bot's tables
    are not added to it, nor its journal mode changed; one line says which file and what to do."""
    other = tmp_path / "billing.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.close()
    before = other.read_bytes()
    env = {**SERVE_ENV, "CATALOGUE_PATH": str(example_catalogue_path()), "PAVEDROAD_DATABASE_URL": "",
           "PAVEDROAD_DB": str(other), "PYTHONPATH": ROOT}
    done = pavedroad(*([command] if command == "migrate" else [command, "--port", str(free_port())]), env=env,
                     cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert str(other) in line and "not the bot's" in line and "nothing was changed" in line
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.db"]
