"""`pavedroad inbox failed` inspects the bot's database; it never changes its schema. On PostgreSQL it opened the
store, which migrated it (a newer CLI on a database the running, older replicas use); on SQLite it read a schema
behind without a word. Both now say that the database needs `pavedroad migrate` first, and leave it as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from bot.adapters.store.postgres.migrations import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.adapters.store.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from bot.app.cli.main import main
from tests.pg_cluster import PostgresCluster


def test_on_postgresql_a_schema_behind_is_not_migrated_but_named(postgres_cluster: PostgresCluster,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    database = postgres_cluster.fresh_database(migrated=False)
    url = postgres_cluster.url(database)
    behind = len(POSTGRES_MIGRATIONS) - 1
    with psycopg.connect(url, autocommit=True) as conn:  # the bot's schema as an older version left it
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for number, script in enumerate(POSTGRES_MIGRATIONS[:behind], start=1):
            with conn.transaction():
                conn.execute(script.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
    monkeypatch.setenv("PAVEDROAD_DATABASE_URL", url)
    assert main(["inbox", "failed"]) == 2
    said = capsys.readouterr().err
    assert f"schema is at version {behind}" in said and "run `pavedroad migrate` first" in said, said
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (behind,)  # untouched
    postgres_cluster.drop_database(database)


def test_on_sqlite_a_schema_behind_is_named_as_on_postgresql(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "bot.db"
    behind = len(SQLITE_MIGRATIONS) - 1
    with sqlite3.connect(db, isolation_level=None) as conn:
        for number, script in enumerate(SQLITE_MIGRATIONS[:behind], start=1):
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.close()
    assert main(["inbox", "failed", "--db", str(db)]) == 2
    said = capsys.readouterr().err
    assert f"schema is at version {behind}" in said and f"run `pavedroad migrate --db {db}` first" in said, said
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (behind,)
    conn.close()
