"""The dispatcher's due-effects reads are served by the outbox's partial indexes on both stores (issue 16, item 4):
with thousands of effects pending, the plan walks `outbox_due` (one lane's queue heads in priority order) and
`outbox_next_due`, never a scan of the pending effects and a sort. The statements examined are the stores' own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from bot.adapters.store.postgres import outbox_claims as postgres_claims
from bot.adapters.store.sqlite.outbox import insert_effect
from bot.adapters.store.sqlite.outbox_claims import NEXT_DUE_SQL, due_effects_sql, next_due_sql
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry
from tests.pg_cluster import PostgresCluster

INCIDENTS = 2_000


async def test_sqlite_reads_due_effects_by_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "plan.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        for n in range(INCIDENTS):
            for effect in (OpenIncidentChannel(f"P{n}"), PostTimelineEntry(f"P{n}", "e1"), SyncTicket(f"P{n}")):
                insert_effect(conn, effect, n % 2, 10.0)
        conn.execute("ANALYZE")
        due = " ".join(row[3] for row in conn.execute(
            "EXPLAIN QUERY PLAN " + due_effects_sql(2), ("slack", 10.0, 10.0, "slack:P1", "slack:P2", 8)))
        next_due = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + NEXT_DUE_SQL, ("slack",)))
        # With effects this replica found it cannot read left out (bot/adapters/store/unreadable.py): the same plans.
        due_skipping = " ".join(row[3] for row in conn.execute(
            "EXPLAIN QUERY PLAN " + due_effects_sql(2, 2), ("slack", 10.0, 10.0, "slack:P1", "slack:P2", 7, 9, 8)))
        next_due_skipping = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + next_due_sql(2),
                                                                    ("slack", 7, 9)))
        heads = conn.execute("SELECT lane, count(*) FROM outbox WHERE head = 1 GROUP BY lane ORDER BY lane").fetchall()
    for due_plan in (due, due_skipping):
        assert "USING INDEX outbox_due" in due_plan and "TEMP B-TREE" not in due_plan, due_plan
    for next_due_plan in (next_due, next_due_skipping):
        assert "USING INDEX outbox_next_due" in next_due_plan and "TEMP B-TREE" not in next_due_plan, next_due_plan
    assert heads == [("servicenow", INCIDENTS), ("slack", INCIDENTS)]


def test_postgres_reads_due_effects_by_index(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database()
    with psycopg.connect(postgres_cluster.url(database), autocommit=True) as conn:
        # Every queue with a head and two effects behind it, as the triggers keep them.
        conn.execute(
            "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
            " SELECT 'P' || n, 'slack:P' || n, 'post_timeline_entry', '{}', n %% 2, 10, 10"
            " FROM generate_series(1, %s) AS n, generate_series(1, 3)", (INCIDENTS,))
        conn.execute("ANALYZE outbox")
        # With two effects this replica found it cannot read left out (bot/adapters/store/unreadable.py).
        due = "\n".join(str(row[0]) for row in conn.execute(
            ("EXPLAIN " + postgres_claims.DUE_EFFECTS_SQL).encode(), ("slack", [7, 9], 10.0, 10.0, ["slack:P1"], 8)))
        next_due = "\n".join(str(row[0]) for row in conn.execute(("EXPLAIN " + postgres_claims.NEXT_DUE_SQL).encode(),
                                                                  ("slack", [7, 9])))
        heads = conn.execute("SELECT count(*) FROM outbox WHERE head = 1").fetchone()
    postgres_cluster.drop_database(database)
    assert "outbox_due" in due and "Sort" not in due and "Seq Scan" not in due, due
    assert "outbox_next_due" in next_due and "Sort" not in next_due and "Seq Scan" not in next_due, next_due
    assert heads == (INCIDENTS,)
