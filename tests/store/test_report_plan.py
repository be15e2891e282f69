"""A report reads the incidents in one pass over the index `incidents_report_months` on both stores (issue 16, item
1): the cells come grouped as the index is walked (service, then month), never gathered and sorted, and a report
of a period enters the index at its first month. The statements examined are the stores' own (report_sql.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bot.adapters.store import report_sql
from bot.adapters.store.sqlite.store import SqliteStore
from bot.ports.report_aggregates import ReportQuery
from tests.pg_cluster import PostgresCluster

SERVICES = [f"PSVC{n:02d}" for n in range(12)]
START = datetime(2019, 1, 1, tzinfo=UTC)
CUT = datetime(2020, 6, 15, tzinfo=UTC)
QUERIES = {"everything": ReportQuery(cuts=(CUT,), listed=frozenset(SERVICES)),
           "a period": ReportQuery(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC), (CUT,),
                                   frozenset(SERVICES))}
INCIDENTS = 4_000


def history() -> list[tuple[object, ...]]:
    """(id, number, service, trigger time, tta_us, ttr_us): as the stores' columns hold them, over three years."""
    rows: list[tuple[object, ...]] = []
    for n in range(INCIDENTS):
        triggered = (START + timedelta(hours=6.5 * n)).isoformat()
        rows.append((f"Q{n}", n, SERVICES[n % len(SERVICES)], triggered, 60_000_000 + n, 3_600_000_000 + n))
    return rows


async def test_sqlite_reads_a_reports_cells_by_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "plan.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        conn.executemany("INSERT INTO incidents (id, number, status, data, updated_at, service_id, triggered_at,"
                         " tta_us, ttr_us) VALUES (?, ?, 'resolved', '{}', 1.0, ?, ?, ?, ?)", history())
        conn.execute("ANALYZE")
        plans = {}
        for name, query in QUERIES.items():
            sql, params = report_sql.incident_cells(report_sql.SQLITE, query, ())
            plans[name] = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    for name, plan in plans.items():
        assert "COVERING INDEX incidents_report_months" in plan and "TEMP B-TREE" not in plan, (name, plan)
    # Each segment of the period is a range of the index: entered at its first month, left after its last.
    assert plan.count("(service_id=? AND <expr>>? AND <expr><?)") == 2, plan


def test_postgres_reads_a_reports_cells_by_index(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database()
    with psycopg.connect(postgres_cluster.url(database), autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(b"INSERT INTO incidents (id, number, status, data, updated_at, service_id,"
                               b" triggered_at, tta_us, ttr_us) VALUES (%s, %s, 'resolved', '{}', 1.0, %s, %s, %s,"
                               b" %s)", history())
        conn.execute(b"VACUUM ANALYZE incidents")
        plans = {}
        for name, query in QUERIES.items():
            sql, params = report_sql.incident_cells(report_sql.POSTGRES, query, ())
            plans[name] = "\n".join(str(row[0]) for row in conn.execute(("EXPLAIN " + sql).encode(), params))
    postgres_cluster.drop_database(database)
    for name, plan in plans.items():
        assert "incidents_report_months" in plan and "Sort" not in plan and "Seq Scan" not in plan, (name, plan)
