"""`pavedroad report` and `pavedroad history seed`: the reports from the command line, reading the bot's database
read-only (the bot may be running), and the synthetic history the sandbox's reports start from. With
PAVEDROAD_DATABASE_URL (and no --db) they work on PostgreSQL: a report reads it over one plain read-only connection
(as it reads SQLite: no pool, no migrations, no event loop); the history commands write through the store's ports."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.adapters.store.sqlite.migrations import holds_another_schema, migrate
from bot.adapters.store.sqlite.report_reads import open_read_only, read_aggregates
from bot.app.cli.database import on_postgres, postgres_url
from bot.app.cli.report_catalogue import report_catalogue_at
from bot.app.config import chosen_catalogue, database_from_env, read
from bot.catalogue_file import CatalogueError, seed_catalogue_path
from bot.domain.reports import GROUPINGS
from bot.errors import ConfigError, StoreUnavailable
from bot.ports.report_aggregates import HistoryError
from bot.render.report import to_csv, to_json, to_table
from bot.services.reports.aggregate import finished_report, report_tallies
from bot.services.reports.request import FORMATS, ReportRequestError, make_request, parse_day

if TYPE_CHECKING:
    from bot.catalogue import Catalogue
    from bot.ports.incident_history import History


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="incidents, MTTA, MTTR and revenue protection from the bot's database")
    report.add_argument("--by", choices=GROUPINGS, default=None,
                        help="rows per service, team, domain, year, period, or operating model and year (the "
                             "seed's table; default: period when the catalogue sets reports.teams_from, else year)")
    report.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="incidents triggered on or after")
    report.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="incidents triggered before (exclusive)")
    report.add_argument("--teams-from", metavar="YYYY-MM-DD",
                        help="when teams began running their own services (overrides reports.teams_from)")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--chart", type=Path, metavar="PATH", help="also write the chart as a PNG here")
    report.add_argument("--db", type=Path, default=None, help="the bot's database (default: $PAVEDROAD_DB or "
                                                              "pavedroad.db)")
    report.add_argument("--catalogue", type=Path, default=None,
                        help="default: $CATALOGUE_PATH, else the bundled seed catalogue (the sandbox's example "
                             "catalogue and the seed's platform)")
    history = sub.add_parser("history", help="backfill the bot's incident history")
    actions = history.add_subparsers(dest="history_command", required=True)
    seed = actions.add_parser("seed", help="add the synthetic history (README, 'Reports') to a database")
    seed.add_argument("--db", type=Path, required=True)
    seed.add_argument("--catalogue", type=Path, default=None)
    backfill = actions.add_parser("import", help="backfill resolved incidents and change events from PagerDuty's "
                                                 "REST API ($PAGERDUTY_API_TOKEN, $PAGERDUTY_API_URL)")
    backfill.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="exclusive; default: now")
    backfill.add_argument("--db", type=Path, default=None, help="the bot's database (default: $PAVEDROAD_DB or "
                                                                "pavedroad.db)")


def _catalogue_path(path: Path | None) -> Path:
    """--catalogue, else $CATALOGUE_PATH, else the seed catalogue: the example catalogue (the sandbox's) with the
    seed's platform added, so the sandbox's reports, with or without its history, read right."""
    return chosen_catalogue(path) or seed_catalogue_path()


def _catalogue(path: Path | None) -> Catalogue:
    from bot.catalogue import load_catalogue  # the full catalogue: for the history commands, not for a report

    return load_catalogue(_catalogue_path(path))


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "history" and args.history_command == "import":
            return _import(args)
        if args.command == "history":
            return _seed(args.db, _catalogue(args.catalogue))
        return _report(args)
    except (ReportRequestError, HistoryError, ValueError, StoreUnavailable, ConfigError) as error:
        print(f"pavedroad {args.command}: {error}", file=sys.stderr)
        return 2
    except CatalogueError as error:
        print(f"pavedroad {args.command}: {error.described()}", file=sys.stderr)
        return 2


def _check_chart(path: Path) -> None:
    """Refuse a --chart path that cannot be written, before the report is computed (not after its table)."""
    flag, folder = f"`--chart {path}`", path.parent
    if path.is_dir():
        raise ReportRequestError(f"{flag} is a folder: give --chart a file to write, e.g. {path / 'report.png'}")
    if not folder.exists():
        raise ReportRequestError(f"{flag}: the folder {folder} does not exist: create it, or give --chart a file "
                                 "in a folder that exists")
    if not folder.is_dir():
        raise ReportRequestError(f"{flag}: {folder} is not a folder: give --chart a file in a folder that exists")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise ReportRequestError(f"{flag}: {path if path.exists() else folder} is not writable: give --chart a "
                                 "file you can write")


def _report(args: argparse.Namespace) -> int:
    if args.chart is not None:
        _check_chart(args.chart)
    # What the report needs of the catalogue, validated in full or kept from the last full validation of these
    # very files (report_catalogue.py).
    catalogue = report_catalogue_at(_catalogue_path(args.catalogue))
    request = make_request(catalogue, args.by, args.start, args.end, args.teams_from)
    # The store aggregates (SQL); the team rows are worked out only for the chart, which shows them. Either store is
    # read over one plain connection, without the bot's store machinery (threads, pool, event loop, migrations).
    charted = args.chart is not None
    query, tallies = report_tallies(catalogue, request, by_team=charted)
    if url := postgres_url(args.db):
        from bot.adapters.store.postgres.report_reads import read_aggregates as read_postgres  # psycopg: here only

        read_postgres(url, query, tallies)
    else:
        conn = open_read_only(args.db or database_from_env()[1])
        try:
            read_aggregates(conn, query, tallies)
        finally:
            conn.close()
    report = finished_report(request, tallies, by_team=charted)
    if args.format == "json":
        sys.stdout.write(to_json(report.rows, by=request.by, start=request.start, end=request.end,
                                 teams_from=request.teams_from))
    elif args.format == "csv":
        sys.stdout.write(to_csv(report.rows))
    else:
        sys.stdout.write(to_table(report.rows, request.by))
    if args.chart is not None:
        from bot.render.chart import render_png  # matplotlib only when a chart is asked for

        try:  # checked before the report (_check_chart); what only the write finds is said as plainly
            args.chart.write_bytes(render_png(report.trend, report.by_team, request.title))
        except OSError as error:
            raise ReportRequestError(f"cannot write the chart to {args.chart} ({error.strerror or error}): give "
                                     "--chart a file you can write") from None
        print(f"Chart written to {args.chart}", file=sys.stderr)
    return 0


def _write(db: Path, history: History, url: str | None = None) -> tuple[int, int]:
    """Add to the bot's database (migrated first; the bot may be running on it: WAL, and a wait for its lock), or to
    PostgreSQL's when `url` is given."""
    from bot.adapters.store.sqlite.report_history import write_history  # the store's modules: for writing only

    if url:
        import asyncio

        return asyncio.run(on_postgres(url, lambda store: store.add_history(history.incidents, history.deploys,
                                                                            time.time())))
    try:  # a directory, a file that is not SQLite, a folder that does not exist: found here, said as such
        conn = sqlite3.connect(db, isolation_level=None)
        foreign = holds_another_schema(conn)  # asked before anything is written: WAL mode is a write
        if not foreign:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as error:
        raise HistoryError(f"cannot write to the SQLite database {db} ({error}): give --db the bot's database, or a "
                           "new file in a folder that exists") from None
    if foreign:
        conn.close()
        raise HistoryError(f"{db} is not the bot's database (it holds other tables); nothing was changed: give --db "
                           "the bot's database, or a new file")
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        migrate(conn)
        return write_history(conn, history.incidents, history.deploys, time.time())
    finally:
        conn.close()


def _seed(db: Path, catalogue: Catalogue) -> int:
    from bot.services.reports.synthetic import synthetic_history  # the domain's incidents: for seeding only

    history = synthetic_history(catalogue)
    incidents, deploys = _write(db, history)
    print(f"Added {incidents} incidents and {deploys} deploys of the synthetic history to {db} "
          f"({len(history.incidents) - incidents} incidents were already there).")
    return 0


def _import(args: argparse.Namespace) -> int:
    # The PagerDuty client (httpx) and the stores load for an import only: a report starts without them.
    from bot.adapters.pagerduty.history_import import client_for, fetch_history
    from bot.app.stores import describe_store

    token = read(os.environ, "PAGERDUTY_API_TOKEN")  # or its file, PAGERDUTY_API_TOKEN_FILE, as `serve` reads it
    if not token:
        raise HistoryError("PAGERDUTY_API_TOKEN is not set: export a PagerDuty REST API key (read access is enough), "
                           "or name a file holding it in PAGERDUTY_API_TOKEN_FILE")
    start = parse_day(args.start, "--from")
    end = parse_day(args.end, "--to") if args.end else datetime.now(UTC)
    if start >= end:
        raise HistoryError(f"`--from {args.start}` is not before the end of the period ({end.date()})")
    db = args.db or database_from_env()[1]  # before the download: a store that cannot be named is said at once
    url = postgres_url(args.db)
    with client_for(token, read(os.environ, "PAGERDUTY_API_URL")) as client:
        history = fetch_history(client, start, end)
    incidents, deploys = _write(db, history, url)
    print(f"Imported from PagerDuty ({start.date()} to {end.date()}): {len(history.incidents)} resolved incidents "
          f"({incidents} new) and {len(history.deploys)} deploys ({deploys} new) into "
          f"{describe_store(url, db) if url else db}.")
    return 0
