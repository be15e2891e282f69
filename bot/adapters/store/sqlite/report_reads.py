"""A report's aggregates read from SQLite (`read_aggregates`: the SQL is report_sql.py's), and the bot's database
opened read-only for the CLI (`open_read_only`). Plain sqlite3, so `pavedroad report` and `pavedroad inbox failed`
start without the store's thread and connection machinery (and the report without an event loop: it calls
`read_aggregates` directly); the running bot's store (report_history.py) calls `read_aggregates` on its own thread.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.adapters.store import report_sql
from bot.adapters.store.sqlite.migrations import holds_another_schema
from bot.ports.report_aggregates import HistoryError, ReportQuery, ReportTally


def read_aggregates(conn: sqlite3.Connection, query: ReportQuery, tally: ReportTally) -> None:
    """The cells, each with its durations, and the deploys, from one read transaction (one snapshot)."""
    d = report_sql.SQLITE
    conn.execute("BEGIN")
    try:
        unlisted = [r[0] for r in conn.execute(report_sql.SERVICES) if r[0] not in query.listed]
        deploys = [((r[0], None, r[1], r[2]), r[3]) for r in conn.execute(*report_sql.deploy_cells(d, query))]
        # The cells as they are read: each one's durations are tallied and let go before the next is read.
        tally.cells(map(report_sql.incident_cell, conn.execute(*report_sql.incident_cells(d, query, unlisted))),
                    deploys)
    except sqlite3.DatabaseError as error:  # no such table, or no SQLite file at all ("file is not a database")
        raise no_history(conn, error) from None
    finally:
        conn.execute("COMMIT")


def no_history(conn: sqlite3.Connection, error: sqlite3.DatabaseError) -> HistoryError:
    """Why a database gave no history, and what to do. Another application's database (tables, none of them the
    bot's) must not be sent to `pavedroad history seed`, which refuses it (as `migrate` does, by the same test): the
    way out is the bot's own file. A new or empty one, or an old bot's, is told how to get history into it."""
    try:
        foreign = holds_another_schema(conn)
    except sqlite3.DatabaseError:  # no SQLite file at all: nothing more to learn from it
        foreign = False
    if foreign:
        path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "") or "it"
        return HistoryError(f"{path} is not the bot's database (it holds other tables): give --db the file the bot "
                            "runs on ($PAVEDROAD_DB or pavedroad.db; the sandbox's is sandbox.db)")
    return HistoryError(f"this database has no incident history ({error}): is it the bot's database? Start the bot "
                        "once on it, or seed it with `pavedroad history seed --db PATH`.")


def open_read_only(path: Path) -> sqlite3.Connection:
    """The bot's database, read-only (the bot may be running and writing to it: WAL lets both go on)."""
    if not path.exists():
        raise HistoryError(f"no database at {path}: give the bot's database with --db (the sandbox's is sandbox.db, "
                           "`pavedroad serve` uses $PAVEDROAD_DB or pavedroad.db)")
    if path.is_dir():
        raise HistoryError(f"{path} is a directory: give the bot's database file with --db (the sandbox's is "
                           "sandbox.db, `pavedroad serve` uses $PAVEDROAD_DB or pavedroad.db)")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
