"""A handover with a long history behind it: the on-demand `/incident handover` text (the scheduled post reads the
store the same way) and the `/incident status`-style read of the open incidents, timed on a store of N past
incidents, each beside a bare reference run in the same process: sqlite3 + json reading the same rows by the same
indexed columns, no project code. Prints JSON.

The store is bench/report.py's: N resolved incidents of the example catalogue's services over four years, written
with the project's own history writer (`add_history`); kept at --db PATH (and reused when it already holds them).
On top of it goes a live shift — `--live` incidents on the payments rota's services since 09:00 (every third still
open) and two left open from the day before — and the sandbox (the bot beside its emulators, in this process) is
started on that store at 16:00 on the shift's day. `Handovers.so_far` is then the real thing: PagerDuty's emulator
says who is on call, the store the incidents, the render the text.

    python bench/handover.py [--history 100000] [--db PATH] [--rounds 31] [--live 30]

`handover_ms`/`status_ms` are medians of `--rounds` runs (`handover_store_read_ms`: the store's part of the
handover, `incidents_open_during`; the rest is PagerDuty's emulator saying who is on call, over HTTP, and the
text); `reference_ms`/`status_reference_ms` the bare reads' medians;
`read_every_incident_ms` what reading and decoding every incident once costs (what the handover did before it asked
the store for only what it shows). `rss_mb_start`/`rss_mb_end`: the process's resident memory before the first
handover and after the last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit
from bench.report import SPAN, START, build, past_incidents, stored_incidents
from bot.adapters.clock import SettableClock
from bot.adapters.store.codec import incident_from_json
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import Catalogue, example_catalogue_path, load_catalogue
from bot.domain.incident import Incident, Status
from sandbox.world import serve_sandbox

ROTA = "payments"
SHIFT_DAY = (START + SPAN + timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def covered_services(catalogue: Catalogue) -> list[str]:
    team = next(r.team for r in catalogue.rotas if r.id == ROTA)
    return [s.pagerduty_service_id for s in catalogue.services if s.team == team]


def live_shift(catalogue: Catalogue, count: int, shift_start: datetime) -> list[Incident]:
    """`count` incidents since the shift began on the rota's services (every third still open, the rest resolved
    within the hour), and two from the day before still open."""
    template = past_incidents(1)[0]
    services = {s.pagerduty_service_id: s.name for s in catalogue.services}
    made = []
    for k, service_id in enumerate((covered_services(catalogue) * count)[:count]):
        at = shift_start + timedelta(minutes=10 * k)
        still_open = k % 3 == 0
        made.append(replace(template, id=f"QLIVE{k}", number=900_000 + k, title=f"Live incident {k}",
                            service_id=service_id, service_name=services[service_id],
                            status=Status.TRIGGERED if still_open else Status.RESOLVED,
                            triggered_at=at, acknowledged_at=None if still_open else at + timedelta(minutes=4),
                            resolved_at=None if still_open else at + timedelta(minutes=50), state_as_of=at))
    for k, service_id in enumerate(covered_services(catalogue)[:2]):
        at = shift_start - timedelta(hours=20 - k)
        made.append(replace(template, id=f"QYESTERDAY{k}", number=950_000 + k, title=f"Left open {k}",
                            service_id=service_id, service_name=services[service_id], status=Status.ACKNOWLEDGED,
                            triggered_at=at, acknowledged_at=at + timedelta(minutes=3), resolved_at=None,
                            state_as_of=at))
    return made


async def add_live(db: Path, incidents: list[Incident]) -> None:
    store = SqliteStore(db)
    await store.open()
    try:
        await store.add_history(incidents, (), time.time())
    finally:
        await store.close()


async def median_ms(rounds: int, run: Callable[[], Awaitable[Any]]) -> float:
    await run()  # warm: the first call fills caches (PagerDuty's people, SQLite's pages)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        await run()
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings) * 1000, 2)


def reference_reads(db: Path, services: list[str], shift_start: datetime, now: datetime) -> tuple[
        Callable[[], Awaitable[int]], Callable[[], Awaitable[int]], sqlite3.Connection]:
    """Bare sqlite3 + json reads of the rows the handover and the status read: by service and trigger time (and the
    open ones by status), and the open ones by status."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    marks = ", ".join("?" * len(services))
    since = (min(shift_start, now - timedelta(days=1))).astimezone(UTC).isoformat()

    async def handover_rows() -> int:
        rows = conn.execute(
            f"SELECT data FROM incidents WHERE service_id IN ({marks}) AND triggered_at >= ? AND triggered_at < ?"
            f" UNION SELECT data FROM incidents WHERE status IN ('triggered', 'acknowledged')"
            f" AND service_id IN ({marks})", [*services, since, now.isoformat(), *services]).fetchall()
        return len([json.loads(r[0]) for r in rows])

    async def open_rows() -> int:
        rows = conn.execute("SELECT data FROM incidents WHERE status IN ('triggered', 'acknowledged')").fetchall()
        return len([json.loads(r[0]) for r in rows])
    return handover_rows, open_rows, conn


def read_every_incident_ms(db: Path) -> float:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    started = time.perf_counter()
    for (data,) in conn.execute("SELECT data FROM incidents ORDER BY number"):
        incident_from_json(data)
    conn.close()
    return round((time.perf_counter() - started) * 1000, 1)


def query_plans(db: Path) -> dict[str, str]:
    """SQLite's plan for each of the handover's reads: each names an index, none scans the table."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    plans = {}
    for name, sql in (
            ("open", "SELECT data FROM incidents WHERE status IN ('triggered', 'acknowledged') ORDER BY number"),
            ("shift", "SELECT id FROM incidents INDEXED BY incidents_service_triggered WHERE service_id IN ('A', 'B')"
                      " AND triggered_at >= '2023' AND triggered_at < '2024'"),
            ("resolved", "SELECT id FROM incidents INDEXED BY incidents_resolved WHERE resolved_at >= '2023'"
                         " AND service_id IN ('A') AND triggered_at < '2024'")):
        plans[name] = "; ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    conn.close()
    return plans


async def run(args: argparse.Namespace, db: Path) -> dict[str, Any]:
    catalogue = load_catalogue(example_catalogue_path())
    held = stored_incidents(db)
    expected = args.history + args.live + 2
    if held not in (0, args.history, expected):
        raise SystemExit(f"{db} holds {held} incidents, not {args.history}: give another --db")
    build_s = await build(db, args.history) if held == 0 else None
    shift_start = SHIFT_DAY.replace(hour=9)
    now = SHIFT_DAY.replace(hour=16)
    if stored_incidents(db) == args.history:
        await add_live(db, live_shift(catalogue, args.live, shift_start))
    logging.disable(logging.WARNING)
    running = await serve_sandbox(catalogue, db, port=0, validate_openapi=False, rate_limit_scale=50,
                                  clock=SettableClock(now))
    try:
        bot = running.bot
        text = await bot.handovers.so_far(ROTA)
        rss_start = _rss_mb()
        handover_ms = await median_ms(args.rounds, lambda: bot.handovers.so_far(ROTA))
        status_ms = await median_ms(args.rounds, bot.store.open_incidents)
        services = covered_services(catalogue)
        store_ms = await median_ms(args.rounds, lambda: bot.store.incidents_open_during(
            services, min(shift_start, now - timedelta(days=1)), now))
        rss_end = _rss_mb()
        handover_rows, open_rows, conn = reference_reads(db, services, shift_start, now)
        reference_ms = await median_ms(args.rounds, handover_rows)
        status_reference_ms = await median_ms(args.rounds, open_rows)
        conn.close()
        open_now = len(await bot.store.open_incidents())
        db_bytes = await asyncio.to_thread(lambda: db.stat().st_size)
    finally:
        await running.stop()
    return {
        "history": args.history, "live": args.live, "handover_ms": handover_ms, "reference_ms": reference_ms,
        "handover_over_reference": round(handover_ms / reference_ms, 1) if reference_ms else None,
        "handover_store_read_ms": store_ms,
        "status_ms": status_ms, "status_reference_ms": status_reference_ms, "open_incidents": open_now,
        "read_every_incident_ms": read_every_incident_ms(db),
        "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_end, 1),
        "handover_chars": len(text), "rounds": args.rounds, "query_plans": query_plans(db),
        "build_s": round(build_s, 1) if build_s is not None else None, "db_bytes": db_bytes,
        "targets": {"handover_ms_max": 50},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=100_000, help="past incidents in the store")
    parser.add_argument("--db", type=Path, default=None, help="keep the store here (reused if it holds them)")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--live", type=int, default=30, help="incidents in the shift being handed over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        emit("handover", asyncio.run(run(args, args.db or Path(tmp) / "handover.db")))


if __name__ == "__main__":
    main()
