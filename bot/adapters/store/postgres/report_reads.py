"""A report's aggregates read from PostgreSQL for `pavedroad report` (`read_aggregates`): one plain, synchronous
connection in one read-only REPEATABLE READ transaction (one snapshot), the SQL report_sql.py's — without the
store's pool, its migrations or an event loop, which the command does not need to read (the bot's own reads are
`PostgresIncidentHistory.report_aggregates`, the same statements over the pool).

A database whose schema lacks the report's columns is refused with the hint to start the bot once on it (which
migrates it), as SQLite's report_reads.py does — or, another application's, said to be not the bot's; one that
cannot be reached, with the store's own message.
"""

from __future__ import annotations

import psycopg

from bot.adapters.store import report_sql
from bot.adapters.store.postgres.connection import connection_settings, redact, unavailable
from bot.adapters.store.postgres.migrations import SCHEMA_LOOK
from bot.ports.report_aggregates import HistoryError, ReportQuery, ReportTally


def read_aggregates(url: str, query: ReportQuery, tally: ReportTally) -> None:
    d = report_sql.POSTGRES
    try:
        conn = psycopg.connect(url, **connection_settings(url))
    except psycopg.OperationalError as error:
        raise unavailable(url, error) from None
    try:
        conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # cells and deploys as one
        unlisted = [r[0] for r in conn.execute(report_sql.SERVICES.encode()) if r[0] not in query.listed]
        sql, params = report_sql.deploy_cells(d, query)
        deploys = [((r[0], None, r[1], r[2]), r[3]) for r in conn.execute(sql.encode(), params)]
        sql, params = report_sql.incident_cells(d, query, unlisted)
        tally.cells(map(report_sql.incident_cell, conn.execute(sql.encode(), params)), deploys)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as error:
        raise no_history(conn, url, error) from None
    finally:
        conn.close()


def no_history(conn: psycopg.Connection[tuple[object, ...]], url: str, error: psycopg.Error) -> HistoryError:
    """Why a database gave no history, and what to do: another application's is not the bot's (`migrate` refuses
    it, by the same test); a new one, or an old bot's, is told how to get history into it. (`history seed` writes
    SQLite files only: it is not the way here.)"""
    conn.rollback()  # the failed read ended its transaction
    schema, _, _, bots, relations = conn.execute(SCHEMA_LOOK.encode()).fetchone() or (None, "", "", None, [])
    if bots is None and relations:
        return HistoryError(f"{redact(url)} is not the bot's database (it holds other tables in schema {schema}): "
                            "set PAVEDROAD_DATABASE_URL to the database the bot runs on")
    return HistoryError(f"this database has no incident history ({' '.join(str(error).split())}): is it the bot's "
                        "database? Start the bot once on it (it migrates the schema), or import PagerDuty's history "
                        "into it: `pavedroad history import --from YYYY-MM-DD`.")
