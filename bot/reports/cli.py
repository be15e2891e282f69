"""`pavedroad report` and `pavedroad history seed`: the reports from the command line, reading the bot's database
read-only (the bot may be running), and the synthetic history the sandbox's reports start from."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

from bot.catalogue import Catalogue, CatalogueError, example_catalogue_path, load_catalogue
from bot.domain.reports import GROUPINGS
from bot.reports.chart import render_png
from bot.reports.output import to_csv, to_json, to_table
from bot.reports.request import FORMATS, ReportRequestError, compute, make_request
from bot.reports.synthetic import synthetic_history
from bot.store.history import HistoryError, open_read_only, read_history, write_history
from bot.store.migrations import migrate
from bot.store.sqlite import SqliteStore


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="incidents, MTTA, MTTR and revenue protection from the bot's database")
    report.add_argument("--by", choices=GROUPINGS, default=None,
                        help="rows per service, team, domain, year or period (default: period when the catalogue "
                             "sets reports.teams_from, else year)")
    report.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="incidents triggered on or after")
    report.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="incidents triggered before (exclusive)")
    report.add_argument("--teams-from", metavar="YYYY-MM-DD",
                        help="when teams began running their own services (overrides reports.teams_from)")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--chart", type=Path, metavar="PATH", help="also write the chart as a PNG here")
    report.add_argument("--db", type=Path, default=None, help="the bot's database (default: $PAVEDROAD_DB or "
                                                              "pavedroad.db)")
    report.add_argument("--catalogue", type=Path, default=None,
                        help="default: $CATALOGUE_PATH, else the bundled example catalogue (the sandbox's)")
    history = sub.add_parser("history", help="backfill the bot's incident history")
    actions = history.add_subparsers(dest="history_command", required=True)
    seed = actions.add_parser("seed", help="add the synthetic history (README, 'Reports') to a database")
    seed.add_argument("--db", type=Path, required=True)
    seed.add_argument("--catalogue", type=Path, default=None)


def _catalogue(path: Path | None) -> Catalogue:
    chosen = path or (Path(os.environ["CATALOGUE_PATH"]) if os.environ.get("CATALOGUE_PATH") else None)
    return load_catalogue(chosen or example_catalogue_path())


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "history":
            return _seed(args.db, _catalogue(args.catalogue))
        return _report(args)
    except (ReportRequestError, HistoryError, ValueError) as error:
        print(f"pavedroad {args.command}: {error}", file=sys.stderr)
        return 2
    except CatalogueError as error:
        print(f"pavedroad {args.command}: catalogue {error.path}: " + "; ".join(error.problems), file=sys.stderr)
        return 2


def _report(args: argparse.Namespace) -> int:
    catalogue = _catalogue(args.catalogue)
    request = make_request(catalogue, args.by, args.start, args.end, args.teams_from)
    db = args.db or Path(os.environ.get("PAVEDROAD_DB") or "pavedroad.db")
    conn = open_read_only(db)
    try:
        history = read_history(conn, request.start, request.end)
    finally:
        conn.close()
    report = compute(history, catalogue, request)
    if args.format == "json":
        sys.stdout.write(to_json(report.rows, by=request.by, start=request.start, end=request.end,
                                 teams_from=request.teams_from))
    elif args.format == "csv":
        sys.stdout.write(to_csv(report.rows))
    else:
        sys.stdout.write(to_table(report.rows, request.by))
    if args.chart is not None:
        args.chart.write_bytes(render_png(report.trend, report.by_team, request.title))
        print(f"Chart written to {args.chart}", file=sys.stderr)
    return 0


def _seed(db: Path, catalogue: Catalogue) -> int:
    history = synthetic_history(catalogue)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        migrate(conn)
        incidents, deploys = write_history(conn, history.incidents, history.deploys, time.time())
    finally:
        conn.close()
    print(f"Added {incidents} incidents and {deploys} deploys of the synthetic history to {db} "
          f"({len(history.incidents) - incidents} incidents were already there).")
    return 0


async def seed_running(store: SqliteStore, catalogue: Catalogue) -> None:
    """`pavedroad sandbox --history`: the synthetic history, through the running bot's store (its own thread)."""
    history = synthetic_history(catalogue)
    incidents, deploys = await store.add_history(history.incidents, history.deploys, time.time())
    print(f"Seeded the synthetic history: {incidents} incidents and {deploys} deploys (README, 'Reports').",
          flush=True)
