"""The applier's read of the pending inbox rows leaves a record a newer version wrote for it, with its incident's rows
behind it (bot/adapters/store/unreadable.py), at no cost to a backlog: the look for such a record is a seek into the
partial index inbox_pending_from_slack (migration 20) — or, on SQLite, into inbox_pending_incident (migration 22:
the pending rows by incident, source and seq), the same seek — never a scan of the inbox or of the pending rows. The
statements examined are the stores' own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from bot.adapters.store.postgres.inbox_applying import ARRIVAL_LOCK, ARRIVAL_STATE, INBOX_LOCK, PENDING_WITH_INCIDENTS
from bot.adapters.store.sqlite.inbox import INCIDENT_PENDING, LOOSE_PENDING, PENDING_ROWS
from bot.adapters.store.sqlite.store import SqliteStore
from tests.pg_cluster import PostgresCluster

APPLIED = 20_000
PENDING = 2_000
INSERT = ("INSERT INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at, received_at, body,"
          " state) VALUES ({p}, {p}, {p}, 'key_message', {p}, 'x', 'x', '{{}}', {p})")


def history(p: str) -> tuple[str, list[tuple[str, str, str, str, str]]]:
    """A long history of applied rows and a backlog of pending ones, a third of them records from Slack."""
    values = [("slack" if n % 3 == 0 else "pagerduty", f"d{n}", f"d{n}", f"P{n % 300}",
               "applied" if n < APPLIED else "pending") for n in range(APPLIED + PENDING)]
    return INSERT.format(p=p), values


async def test_sqlite_reads_the_pending_rows_by_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "plan.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        conn.executemany(*history("?"))
        conn.execute("ANALYZE")
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + PENDING_ROWS, (256,)))
        # An arriving delivery's look at its incident's pending rows, and at those with no incident: seeks.
        arrival = [" | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
                   for sql, args in ((INCIDENT_PENDING, ("P7",)), (LOOSE_PENDING, ()))]
    assert arrival == ["SEARCH inbox USING INDEX inbox_pending_incident (incident_id=?)"] * 2, arrival
    assert "inbox_pending (state=?)" in plan, plan
    assert ("inbox_pending_from_slack (incident_id=? AND seq<?)" in plan
            or "inbox_pending_incident (incident_id=? AND source=? AND seq<?)" in plan), plan
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan


def test_postgres_reads_the_pending_rows_by_index(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database()
    with psycopg.connect(postgres_cluster.url(database), autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(*history("%s"))
        conn.execute("ANALYZE inbox")
        plan = "\n".join(str(row[0]) for row in conn.execute(b"EXPLAIN " + PENDING_WITH_INCIDENTS, (256,)))
        # An arriving batch's looks at its incidents' pending rows, and at those with no incident: seeks.
        asked = {"incidents": ["P7", "P8", "Q1"], "loose": False, "lock": INBOX_LOCK}
        arrival = ["\n".join(str(row[0]) for row in conn.execute(b"EXPLAIN " + sql, asked))
                   for sql in (ARRIVAL_LOCK, ARRIVAL_STATE)]
    postgres_cluster.drop_database(database)
    assert "inbox_pending_from_slack" in plan and "Seq Scan on inbox" not in plan, plan
    for looks in arrival:
        assert looks.count("using inbox_pending_incident on inbox") == 2, looks
