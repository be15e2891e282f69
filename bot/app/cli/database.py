"""`pavedroad migrate`: bring the configured store's schema up to date and say what was applied — PostgreSQL when
PAVEDROAD_DATABASE_URL is set, else SQLite at PAVEDROAD_DB (or --db). Safe while replicas run or start: PostgreSQL's
migrations run under an advisory lock. `serve` does the same before it listens (`prepare_store`). The other commands
on the bot's data (`inbox`, `history`) reach PostgreSQL through the store's ports (`on_postgres`); `report` reads
it over a plain connection of its own (bot/adapters/store/postgres/report_reads.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot.app.config import database_from_env
from bot.errors import ConfigError, StoreUnavailable
from bot.ports.report_aggregates import HistoryError

if TYPE_CHECKING:  # the stores (psycopg, sqlite-utils) load when a command uses one, not for every command
    from bot.app.stores import Migrated
    from bot.ports.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = sub.add_parser("migrate", help="apply the store's schema migrations (PostgreSQL with "
                                             "$PAVEDROAD_DATABASE_URL, else SQLite) and print what was applied")
    migrate.add_argument("--db", type=Path, default=None,
                         help="SQLite file, when PAVEDROAD_DATABASE_URL is unset (default: $PAVEDROAD_DB or "
                              "pavedroad.db)")


def run(args: argparse.Namespace) -> int:
    try:
        url, path = database_from_env()
    except ConfigError as error:
        print(f"pavedroad migrate: {'; '.join(error.problems)}", file=sys.stderr)
        return 2
    import asyncio  # here, as the stores: the other commands (report) start without it

    from bot.app.stores import migrate_store

    try:
        migrated = asyncio.run(migrate_store(url, args.db or path))
    except StoreUnavailable as error:
        print(f"pavedroad migrate: {error}", file=sys.stderr)
        return 2
    print(report(migrated))
    return 0


def report(migrated: Migrated) -> str:
    if not migrated.applied:
        return f"{migrated.where}: up to date (schema version {migrated.version}); nothing to apply."
    numbers = ", ".join(str(n) for n in migrated.applied)
    return (f"{migrated.where}: applied migration(s) {numbers}; the schema is now at version "
            f"{migrated.applied[-1]}.")


def prepare_store(database_url: str | None, db_path: Path) -> bool:
    """Before `serve` listens: migrate the store, or print the one-line reason it cannot be opened (False)."""
    import asyncio

    from bot.app.stores import describe_store, migrate_store

    try:
        migrated = asyncio.run(migrate_store(database_url, db_path))
    except StoreUnavailable as error:
        print(f"pavedroad serve: {error}", file=sys.stderr)
        return False
    log.info("store: %s%s", describe_store(database_url, db_path),
             f" (applied migration(s) {', '.join(map(str, migrated.applied))})" if migrated.applied else "")
    return True


def postgres_url(db: Path | None) -> str | None:
    """The PostgreSQL database a command on the bot's data works on: PAVEDROAD_DATABASE_URL's, unless `--db` names
    an SQLite file (None: SQLite)."""
    return None if db is not None else database_from_env()[0]


async def on_postgres(url: str, work: Callable[[Store], Awaitable[T]], *, the_bots: bool = False,
                      migrate: bool = True) -> T:
    """Open the PostgreSQL store (StoreUnavailable when it cannot be, or is lost during `work`: the command says so in
    one line, not a traceback), do `work` on it through its ports, close it.
    `the_bots`: the database must already be the bot's (a command on its deliveries), else HistoryError and nothing
    written: opening would migrate an empty database, a wrong URL's, into an empty bot's one.
    `migrate` False (a command that only looks, `inbox failed`): the schema is left as it is, and one behind this
    version's is refused (HistoryError saying to run `pavedroad migrate` first) before anything is read."""
    import psycopg

    from bot.adapters.store.postgres.connection import unavailable
    from bot.adapters.store.postgres.store import PostgresStore

    if the_bots or not migrate:
        await _refuse_unless_the_bots(url, current=not migrate)
    store = PostgresStore(url)
    await store.open(migrate=migrate)
    try:
        return await work(store)
    except psycopg.OperationalError as error:  # (a pool's timeout too) lost after opening: a restart, a failover
        raise unavailable(url, error) from None
    finally:
        await store.close()


async def _refuse_unless_the_bots(url: str, *, current: bool = False) -> None:
    """HistoryError unless the URL's schema holds the bot's tables (its schema_migrations), asked on a connection of
    its own before anything is written; with `current`, unless every migration of this version is applied too."""
    import psycopg

    from bot.adapters.store.postgres.connection import connection_settings, redact, unavailable
    from bot.adapters.store.postgres.migrations import MIGRATIONS, SCHEMA_LOOK

    applied = len(MIGRATIONS)
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, **connection_settings(url)) as conn:
            look = await (await conn.execute(SCHEMA_LOOK.encode())).fetchone()
            if current and look and look[3] is not None:
                counted = await (await conn.execute(b"SELECT count(*) FROM schema_migrations WHERE version <= %s",
                                                    (len(MIGRATIONS),))).fetchone()
                applied = int(counted[0]) if counted else 0
    except psycopg.Error as error:
        raise unavailable(url, error) from None
    schema, bots = (look[0], look[3]) if look else (None, None)
    if bots is None:
        raise HistoryError(f"{redact(url)} is not the bot's database (schema {schema or 'none'} holds none of its "
                           "tables); nothing was changed: set PAVEDROAD_DATABASE_URL to the database the bot runs on")
    if applied < len(MIGRATIONS):
        raise schema_behind(redact(url), applied, len(MIGRATIONS), "pavedroad migrate")


def schema_behind(where: str, version: int, latest: int, migrate: str) -> HistoryError:
    """What a command that only looks (`inbox failed`) says of a database whose schema is behind its own version's:
    it does not migrate it (the replicas running on it may be older), the operator does."""
    return HistoryError(f"{where}: the bot's schema is at version {version}, behind this pavedroad's {latest}; "
                        f"nothing was read or changed: run `{migrate}` first (as a deploy does before the new version "
                        "starts; `serve` migrates at start too)")
