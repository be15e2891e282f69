"""`pavedroad report` on PostgreSQL (PAVEDROAD_DATABASE_URL) reads over one plain read-only connection, as it reads
SQLite: the same history prints the same report from either store; a database the bot has not migrated is
refused with the hint to start the bot on it, and left as it was (a report never writes); one that cannot be
reached is one line naming the variable, never the password."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg
import pytest

from bot.adapters.store.postgres.migrations import MIGRATIONS
from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.migrations import migrate
from bot.adapters.store.sqlite.report_history import write_history
from bot.app.cli.main import main
from bot.catalogue import load_catalogue, seed_catalogue_path
from bot.services.reports.synthetic import synthetic_history
from tests.pg_cluster import PASSWORD, PASSWORD_USER, PostgresCluster, free_port

HISTORY = synthetic_history(load_catalogue(seed_catalogue_path()))
FLAGS = (["--by", "model", "--format", "json"], ["--by", "service", "--format", "csv"],
         ["--by", "period", "--from", "2019-06-01", "--to", "2020-07-01"])


def report(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = main(["report", *flags])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_postgresql_prints_what_sqlite_prints(postgres_cluster: PostgresCluster, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    database = postgres_cluster.fresh_database()

    async def seed() -> None:
        store = PostgresStore(postgres_cluster.url(database))
        await store.open()
        try:
            await store.add_history(HISTORY.incidents, HISTORY.deploys, 1.0)
        finally:
            await store.close()

    asyncio.run(seed())
    conn = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    migrate(conn)
    write_history(conn, HISTORY.incidents, HISTORY.deploys, 1.0)
    conn.close()
    monkeypatch.delenv("CATALOGUE_PATH", raising=False)
    for flags in FLAGS:
        monkeypatch.setenv("PAVEDROAD_DATABASE_URL", "")
        on_sqlite = report(capsys, "--db", str(tmp_path / "bot.db"), *flags)
        monkeypatch.setenv("PAVEDROAD_DATABASE_URL", postgres_cluster.url(database))
        on_postgres = report(capsys, *flags)
        assert on_postgres == on_sqlite and on_sqlite[0] == 0 and on_sqlite[1].strip(), flags
    postgres_cluster.drop_database(database)


def test_an_unmigrated_database_is_refused_and_left_as_it_was(postgres_cluster: PostgresCluster,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    database = postgres_cluster.fresh_database(migrated=False)
    url = postgres_cluster.url(database)
    with psycopg.connect(url, autocommit=True) as conn:  # the schema before the report's columns (16)
        conn.execute(b"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                     b" applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for number, script in enumerate(MIGRATIONS[:15], start=1):
            conn.execute(script.encode())
            conn.execute(b"INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
    monkeypatch.setenv("PAVEDROAD_DATABASE_URL", url)
    code, out, err = report(capsys, "--by", "year")
    assert code == 2 and out == ""
    assert err.startswith("pavedroad report: this database has no incident history (") and "tta_us" in err
    assert "Start the bot once on it" in err
    with psycopg.connect(url) as conn:
        assert conn.execute(b"SELECT max(version) FROM schema_migrations").fetchone() == (15,)
    postgres_cluster.drop_database(database)


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAVEDROAD_DATABASE_URL",
                       f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{free_port()}/pavedroad")
    code, out, err = report(capsys, "--by", "year")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"pavedroad report: PAVEDROAD_DATABASE_URL: cannot open the database at "
                           f"postgresql://{PASSWORD_USER}:***@127.0.0.1:")
    assert PASSWORD not in err
