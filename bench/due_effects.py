"""The dispatcher's due-effects query with many effects pending: what each wake of the dispatcher costs.

Builds a SQLite store (the project's migrations and its own `insert_effect`, so the triggers that keep each queue's
head run as in production) holding `--pending` effects: incidents with a Slack queue of several effects (a channel
to open, timeline lines to post) and a ServiceNow queue of one or two, high and low urgency mixed, some waiting to be
retried and a few leased (in flight). Then times, per call (median of `--calls`):

- `due_effects_ms`: the store's `due_effects` for the Slack lane with the dispatcher's limit (8), and for
  ServiceNow's, as the dispatcher asks on a wake, through the store's thread, rows decoded;
- `next_due_ms`: the store's `next_effect_due_at` over the lanes;
- `query_ms`: the due-effects SQL alone on a plain connection (the same statement the store runs);
- `reference_ms`: a bare SELECT of the same rows by primary key (what reading them cannot go below);
- `before_query_ms`: the query `main` ran before (each pending row's queue minimum, then a sort of all pending);

and prints each statement's plan (EXPLAIN QUERY PLAN). JSON output.

    python bench/due_effects.py [--store sqlite|postgres] [--pending 65000] [--calls 200]

With `--store postgres` the same on a throwaway PostgreSQL cluster (tests/pg_cluster.py), filled by one INSERT
(the triggers run per row as for the store's own inserts); plans by EXPLAIN.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit
from bot.adapters.store.sqlite.outbox import insert_effect
from bot.adapters.store.sqlite.outbox_claims import NEXT_DUE_SQL, due_effects_sql
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import LANES
from bot.domain.effects.servicenow import OpenTicket, SyncTicket
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry

NOW = 1_000_000.0
BEFORE_SQL = (  # main at c51d187: bot/adapters/store/sqlite/outbox.py, due_effects
    "SELECT o.seq, o.kind, o.payload, o.attempts, o.created_at FROM outbox o"
    " WHERE o.state='pending' AND o.next_attempt_at <= ? AND (o.leased_until IS NULL OR o.leased_until <= ?) "
    " AND o.seq = (SELECT min(seq) FROM outbox p WHERE p.queue=o.queue AND p.state='pending')"
    " ORDER BY o.priority, o.seq LIMIT ?")
BEFORE_NEXT_DUE_SQL = ("SELECT min(max(next_attempt_at, coalesce(leased_until, 0))) FROM outbox"
                       " WHERE state='pending'")


def fill(db: Path, pending: int) -> int:
    """Queue about `pending` effects; returns how many incidents they belong to."""
    conn = sqlite3.connect(db, isolation_level=None)
    incidents = 0
    with conn:
        conn.execute("BEGIN")
        queued = 0
        while queued < pending:
            incident = f"P{incidents:06d}"
            priority = incidents % 2  # high and low urgency, alternately
            effects: list[Any] = [OpenIncidentChannel(incident), *(PostTimelineEntry(incident, f"e{incident}-{n}")
                                                                    for n in range(3)), OpenTicket(incident)]
            if incidents % 3 == 0:
                effects.append(SyncTicket(incident))
            for effect in effects:
                insert_effect(conn, effect, priority, NOW - 60)
            queued += len(effects)
            incidents += 1
        # A tenth of the Slack heads wait to be retried (429s); a few are in flight (leased).
        conn.execute("UPDATE outbox SET next_attempt_at = ? WHERE head = 1 AND lane = 'slack' AND seq % 10 = 0",
                     (NOW + 30,))
        conn.execute("UPDATE outbox SET lease_owner = 'other', leased_until = ? WHERE head = 1 AND seq % 97 = 0",
                     (NOW + 60,))
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return incidents


def median_ms(call: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


async def median_ms_async(call: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def plan(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[str]:
    return [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


BEFORE_POSTGRES_SQL = (  # main at c51d187: bot/adapters/store/postgres/outbox.py, due_effects
    "SELECT o.seq, o.kind, o.payload, o.attempts, o.created_at FROM outbox o"
    " WHERE o.state='pending' AND o.next_attempt_at <= %s AND (o.leased_until IS NULL OR o.leased_until <= %s) "
    " AND NOT (o.queue = ANY(%s))"
    " AND o.seq = (SELECT min(seq) FROM outbox p WHERE p.queue=o.queue AND p.state='pending')"
    " ORDER BY o.priority, o.seq LIMIT %s")
# Per incident n: its channel, three timeline lines and its ticket; a sync for every third.
FILL_POSTGRES_SQL = (
    "INSERT INTO outbox (incident_id, queue, kind, payload, priority, next_attempt_at, created_at)"
    " SELECT 'P' || n, e.system || ':P' || n, e.kind, '{\"incident_id\": \"P' || n || '\"}', n %% 2, %s, %s"
    " FROM generate_series(0, %s) AS n, (VALUES (1, 'slack', 'open_incident_channel'), (2, 'slack', 'refresh_card'),"
    " (3, 'slack', 'refresh_card'), (4, 'slack', 'refresh_card'), (5, 'servicenow', 'open_ticket'),"
    " (6, 'servicenow', 'sync_ticket')) AS e(step, system, kind) WHERE e.step < 6 OR n %% 3 = 0 ORDER BY n, e.step")


async def bench_postgres(args: argparse.Namespace) -> None:
    import psycopg

    from bot.adapters.store.postgres import outbox_claims as postgres_claims
    from bot.adapters.store.postgres.store import PostgresStore
    from tests.pg_cluster import PostgresCluster

    cluster = PostgresCluster(durable=True)
    cluster.start()
    try:
        cluster.prepare()
        url = cluster.url(cluster.fresh_database())
        incidents = args.pending * 3 // 16  # 16 effects per 3 incidents
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILL_POSTGRES_SQL.encode(), (NOW - 60, NOW - 60, incidents - 1))
            conn.execute("UPDATE outbox SET next_attempt_at = %s WHERE head = 1 AND lane = 'slack'"
                         " AND seq %% 10 = 0", (NOW + 30,))
            conn.execute("UPDATE outbox SET lease_owner = 'other', leased_until = %s WHERE head = 1"
                         " AND seq %% 97 = 0", (NOW + 60,))
            conn.execute("VACUUM ANALYZE outbox")
            fill_s = time.perf_counter() - started
            pending = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]  # type: ignore[index]
            busy = [f"slack:P{n}" for n in range(1, 16, 2)]
            params = ("slack", [], NOW, NOW, busy, 8)  # the lane, no unreadable effects, now, now, busy, the limit
            sql = postgres_claims.DUE_EFFECTS_SQL.encode()
            seqs = [row[0] for row in conn.execute(sql, params).fetchall()]
            reference = b"SELECT seq, kind, payload, attempts, created_at, priority FROM outbox WHERE seq = ANY(%s)"
            query_ms = median_ms(lambda: conn.execute(sql, params).fetchall(), args.calls)
            reference_ms = median_ms(lambda: conn.execute(reference, (seqs,)).fetchall(), args.calls)
            before_calls = max(5, args.calls // 20)
            before_ms = median_ms(lambda: conn.execute(BEFORE_POSTGRES_SQL.encode(), (NOW, NOW, busy, 8)).fetchall(),
                                  before_calls)
            before_heads = {row[0] for row in conn.execute(BEFORE_POSTGRES_SQL.encode(), (NOW, NOW, [], 10**9))}
            plans = {"due_effects": [str(r[0]) for r in conn.execute(b"EXPLAIN " + sql, params)],
                     "next_due": [str(r[0]) for r in conn.execute(
                         ("EXPLAIN " + postgres_claims.NEXT_DUE_SQL).encode(), ("slack", []))]}
        store = PostgresStore(url)
        await store.open()
        try:
            heads = {r.seq for lane in LANES for r in await store.due_effects(NOW, 10**9, [], lane=lane)}
            due_ms = await median_ms_async(lambda: store.due_effects(NOW, 8, busy, lane="slack"), args.calls)
            next_ms = await median_ms_async(lambda: store.next_effect_due_at(LANES), args.calls)
        finally:
            await store.close()
    finally:
        cluster.stop()
    emit("due_effects_postgres", {
        "pending": pending, "incidents": incidents, "fill_s": round(fill_s, 1), "calls": args.calls,
        "due_effects_ms": due_ms, "next_due_ms": next_ms, "query_ms": query_ms, "reference_ms": reference_ms,
        "query_over_reference": round(query_ms / reference_ms, 2) if reference_ms else None,
        "before_query_ms": before_ms, "due_heads": len(heads), "same_heads_as_before": heads == before_heads,
        "plans": plans,
    })


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pending", type=int, default=65_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if args.store == "postgres":
        await bench_postgres(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "due.db"
        store = SqliteStore(db)
        await store.open()  # migrates
        await store.close()
        started = time.perf_counter()
        incidents = fill(db, args.pending)
        fill_s = time.perf_counter() - started
        conn = sqlite3.connect(db)
        pending = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        busy = [f"slack:P{n:06d}" for n in range(1, 16, 2)]  # what the dispatcher has in flight
        due_sql = due_effects_sql(len(busy))
        slack_params = ("slack", NOW, NOW, *busy, 8)
        rows = conn.execute(due_sql, slack_params).fetchall()
        seqs = [row[0] for row in rows]
        reference_sql = (f"SELECT seq, kind, payload, attempts, created_at, priority FROM outbox"
                         f" WHERE seq IN ({','.join('?' * len(seqs))})")
        query_ms = median_ms(lambda: conn.execute(due_sql, slack_params).fetchall(), args.calls)
        reference_ms = median_ms(lambda: conn.execute(reference_sql, seqs).fetchall(), args.calls)
        before_calls = max(5, args.calls // 20)
        before_ms = median_ms(lambda: conn.execute(BEFORE_SQL, (NOW, NOW, 8)).fetchall(), before_calls)
        before_next_ms = median_ms(lambda: conn.execute(BEFORE_NEXT_DUE_SQL).fetchall(), before_calls)
        before_heads = {row[0] for row in conn.execute(BEFORE_SQL, (NOW, NOW, 10**9)).fetchall()}
        plans = {"due_effects": plan(conn, due_sql, slack_params), "next_due": plan(conn, NEXT_DUE_SQL, ("slack",)),
                 "before_due_effects": plan(conn, BEFORE_SQL, (NOW, NOW, 8))}
        conn.close()

        store = SqliteStore(db)
        await store.open()
        try:
            # Every due head, lane by lane: the same effects as the query before offered (a sanity check).
            heads = {r.seq for lane in LANES for r in await store.due_effects(NOW, 10**9, [], lane=lane)}
            due_ms = await median_ms_async(lambda: store.due_effects(NOW, 8, busy, lane="slack"), args.calls)
            servicenow_ms = await median_ms_async(lambda: store.due_effects(NOW, 8, busy, lane="servicenow"),
                                                  args.calls)
            next_ms = await median_ms_async(lambda: store.next_effect_due_at(LANES), args.calls)
        finally:
            await store.close()
    emit("due_effects", {
        "pending": pending, "incidents": incidents, "fill_s": round(fill_s, 1), "calls": args.calls,
        "due_effects_ms": due_ms, "due_effects_servicenow_ms": servicenow_ms, "next_due_ms": next_ms,
        "query_ms": query_ms, "reference_ms": reference_ms,
        "query_over_reference": round(query_ms / reference_ms, 2) if reference_ms else None,
        "before_query_ms": before_ms, "before_next_due_ms": before_next_ms,
        "due_heads": len(heads), "same_heads_as_before": heads == before_heads,
        "plans": plans,
    })


if __name__ == "__main__":
    asyncio.run(main())
