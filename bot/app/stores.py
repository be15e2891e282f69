"""Which store the bot runs on — PostgreSQL when PAVEDROAD_DATABASE_URL is set, else SQLite at PAVEDROAD_DB — and
bringing its schema up to date (`pavedroad migrate`, and `serve` before it starts listening).

Either way the answer to "the database cannot be opened" is a StoreUnavailable whose message is one line naming the
setting and the fix, never the password of a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.store.postgres.connection import migrate_database, redact
from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from bot.adapters.store.sqlite.migrations import holds_another_schema
from bot.adapters.store.sqlite.migrations import migrate as migrate_sqlite
from bot.adapters.store.sqlite.store import SqliteStore
from bot.errors import StoreUnavailable
from bot.ports.store import Store


@dataclass(frozen=True)
class Migrated:
    """What `migrate_store` did: the store (named without any password) and the migrations it applied."""

    where: str
    applied: tuple[int, ...]
    version: int


def build_store(database_url: str | None, db_path: Path) -> Store:
    """The store the settings name, not yet opened."""
    if database_url:
        return PostgresStore(database_url)
    return SqliteStore(db_path)


def describe_store(database_url: str | None, db_path: Path) -> str:
    """The store, for a log line or a message: PostgreSQL's URL without its password, or SQLite's file."""
    return f"PostgreSQL at {redact(database_url)}" if database_url else f"SQLite at {db_path}"


async def migrate_store(database_url: str | None, db_path: Path) -> Migrated:
    """Apply the migrations the store lacks (under PostgreSQL's advisory lock: replicas starting together are
    safe); raise StoreUnavailable when the database cannot be opened."""
    if database_url:
        applied = await migrate_database(database_url)
        from bot.adapters.store.postgres.migrations import MIGRATIONS

        return Migrated(describe_store(database_url, db_path), tuple(applied), len(MIGRATIONS))
    return await asyncio.to_thread(_migrate_sqlite, db_path)


def _migrate_sqlite(path: Path) -> Migrated:
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            # Looked at before anything is written (WAL mode included): a path pointing at another application's
            # database (a typo in a volume path) must not gain the bot's tables.
            if holds_another_schema(conn):
                raise StoreUnavailable(f"PAVEDROAD_DB: {path} holds another application's tables, not the bot's;"
                                       " nothing was changed: point PAVEDROAD_DB (or --db) at the bot's database, or"
                                       " at a new file")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")  # a running bot may be writing: wait for its lock
            before = int(conn.execute("PRAGMA user_version").fetchone()[0])
            after = migrate_sqlite(conn)
    except sqlite3.Error as error:
        raise StoreUnavailable(f"PAVEDROAD_DB: cannot open the SQLite database {path} ({error}); point PAVEDROAD_DB "
                               "(or --db) at a writable file on a persistent disk") from None
    return Migrated(describe_store(None, path), tuple(range(before + 1, after + 1)), len(SQLITE_MIGRATIONS))
