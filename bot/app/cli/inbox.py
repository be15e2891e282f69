"""`pavedroad inbox failed` and `pavedroad inbox retry <ref>`: the deliveries the worker set aside (quarantined)
because they could not be applied, read from the bot's database on a connection of their own (the bot may be
running: WAL lets both go on), and one of them set back to pending once its cause is fixed. With
PAVEDROAD_DATABASE_URL (and no --db), the same on PostgreSQL through the store's ports."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.adapters.store.sqlite.migrations import MIGRATIONS, holds_the_bots_schema, migrate
from bot.adapters.store.sqlite.report_reads import open_read_only
from bot.app.cli.database import on_postgres, postgres_url, schema_behind
from bot.app.config import database_from_env
from bot.errors import ConfigError, StoreUnavailable
from bot.ports.report_aggregates import HistoryError

if TYPE_CHECKING:
    from bot.ports.store import FailedDelivery

COLUMNS = ("reference", "received", "source", "event type", "incident", "reason")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inbox = sub.add_parser("inbox", help="deliveries the bot set aside because they could not be applied")
    actions = inbox.add_subparsers(dest="inbox_command", required=True)
    failed = actions.add_parser("failed", help="list the quarantined deliveries, the latest first")
    retry = actions.add_parser("retry", help="set a quarantined delivery back to pending, after a fix: the running "
                                             "bot (or its next start) applies it again")
    retry.add_argument("reference", help="the delivery's reference (in the operators' alert and `inbox failed`)")
    for parser in (failed, retry):
        parser.add_argument("--db", type=Path, default=None, help="the bot's database (default: $PAVEDROAD_DB or "
                                                                  "pavedroad.db)")


def run(args: argparse.Namespace) -> int:
    db: Path = args.db or Path("pavedroad.db")
    try:
        db = args.db or database_from_env()[1]  # PAVEDROAD_DB, or the file PAVEDROAD_DB_FILE names
        if url := postgres_url(args.db):
            import asyncio  # here: `pavedroad report` (which imports this module for its parser) starts without it

            return asyncio.run(_on_postgres(url, args))
        if args.inbox_command == "retry":
            return _retry(db, args.reference)
        return _failed(db)
    except (HistoryError, StoreUnavailable, ConfigError) as error:
        print(f"pavedroad inbox {args.inbox_command}: {error}", file=sys.stderr)
        return 2
    except sqlite3.Error as error:
        print(f"pavedroad inbox {args.inbox_command}: cannot read the inbox in {db} ({error}); is it the bot's "
              "database?", file=sys.stderr)
        return 2


async def _on_postgres(url: str, args: argparse.Namespace) -> int:
    """The same, on PostgreSQL (PAVEDROAD_DATABASE_URL), through the store's ports."""
    if args.inbox_command == "retry":
        if not await on_postgres(url, lambda store: store.retry_delivery(args.reference),
                                 the_bots=True):
            print(f"pavedroad inbox retry: no quarantined delivery has the reference {args.reference!r} "
                  "(`pavedroad inbox failed` lists them)", file=sys.stderr)
            return 2
        print(f"Delivery {args.reference} is pending again: a running replica applies it within seconds.")
        return 0
    # Only looks: never migrates (a newer CLI beside older replicas); a schema behind is named instead.
    failed = await on_postgres(url, lambda store: store.failed_deliveries(), the_bots=True, migrate=False)
    if not failed:
        print("No quarantined deliveries.")
        return 0
    sys.stdout.write(table(failed))
    print(f"\n{len(failed)} quarantined deliveries. After fixing the cause: pavedroad inbox retry <reference>")
    return 0


def _failed(db: Path) -> int:
    from bot.adapters.store.sqlite.inbox import read_failed  # the store's modules load for the command using them

    with contextlib.closing(open_read_only(db)) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if holds_the_bots_schema(conn) and version < len(MIGRATIONS):  # as on PostgreSQL: named, not read
            raise schema_behind(str(db), version, len(MIGRATIONS), f"pavedroad migrate --db {db}")
        failed = read_failed(conn)
    if not failed:
        print(f"No quarantined deliveries in {db}.")
        return 0
    sys.stdout.write(table(failed))
    print(f"\n{len(failed)} quarantined deliveries. After fixing the cause: pavedroad inbox retry <reference>"
          + (f" --db {db}" if db != Path("pavedroad.db") else ""))
    return 0


def table(failed: list[FailedDelivery]) -> str:
    """One line per delivery, columns aligned; the reason, last, is never cut."""
    rows = [COLUMNS] + [(f.reference or "-", f.received_at, f.source, f.event_type, f.incident_id or "-",
                         " ".join(f.reason.split())) for f in failed]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return "".join("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
                   .rstrip() + "\n" for row in rows)


def _retry(db: Path, reference: str) -> int:
    from bot.adapters.store.sqlite.inbox import retry_failed

    if not db.exists():
        raise HistoryError(f"no database at {db}: give the bot's database with --db (the sandbox's is sandbox.db, "
                           "`pavedroad serve` uses $PAVEDROAD_DB or pavedroad.db)")
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout=5000")  # the running bot may be writing: wait for its lock
        if not holds_the_bots_schema(conn):  # asked before migrating, which would add the bot's tables to it
            raise HistoryError(f"{db} is not the bot's database (no inbox table or schema version); nothing was "
                               "changed: give --db the file the bot runs on ($PAVEDROAD_DB or pavedroad.db; the "
                               "sandbox's is sandbox.db)")
        migrate(conn)  # the bot's, perhaps from before a newer bot's migrations: as it would be at its next start
        if not retry_failed(conn, reference):
            print(f"pavedroad inbox retry: no quarantined delivery has the reference {reference!r} in {db} "
                  "(`pavedroad inbox failed` lists them)", file=sys.stderr)
            return 2
    print(f"Delivery {reference} is pending again: the running bot applies it within seconds (or at its next "
          "start). If it fails again, it is set aside again under the same reference, with one new alert.")
    return 0
