"""Webhook intake: throughput and latency of POST /pagerduty/webhook at 32 concurrent connections, beside a bare
reference measured in the same run with the same durability. Each server runs in its own process; the load comes
from this one. For the bot, also how long its worker takes, from the burst's end, to apply every event stored
(`backlog_drain_s`, read from its database), how many were still pending when the burst ended (all, and of the
burst's deliveries), and how many of the burst's deliveries it applied per second while the burst was being stored
(`applied_per_s_during_burst`). Prints JSON.

- `--store sqlite` (default): the bot on SQLite beside a bare aiohttp + SQLite insert (WAL, synchronous=FULL, one
  writer thread).
- `--store postgres`: the bot on PostgreSQL beside a bare aiohttp + psycopg insert (a pool of the same size as the
  bot's, each insert its own transaction), both on one cluster the benchmark starts (tests/pg_cluster.py) with
  PostgreSQL's durable defaults: fsync on, synchronous_commit = on. A fresh database per run.
- `--applier inline` (default): the bot as `pavedroad serve` runs it by default, the worker in the web process;
  `--applier process`: PAVEDROAD_APPLIER=process, the worker in a child process (README, 'Bursts: the applier in a
  process of its own'). The bot's CPU (`server_cpu_s`, `cpu_ms_per_event`) counts all its processes.
- `--replicas 2` (with `--store postgres`): two bot processes on that one database, the load spread round-robin over
  both (request by request), beside the same single bare reference.
- `--held-row`: before the burst, a row that stays pending through it is written beside the bot: a record from
  Slack of a type this version does not know (what a newer replica leaves in a rolling upgrade, README "Rolling
  upgrades"), for an incident outside the burst. Without it, whether a row is pending when the burst runs is luck —
  the status-update reminder job records one per open incident each minute (the bench's incidents are high urgency,
  triggered days before the clock) — and a pending row used to hold back every delivery after it. It is not counted
  as pending below.
- `--remind-at F`: once that fraction of the burst is sent (0.5: half of it), the bot's own status-update reminder
  job runs (through a route only this benchmark's server has): it records a reminder for every open incident (the
  bench's are high urgency and triggered days before the clock), as its once-a-minute run does when it falls there —
  made certain rather than left to where the minute falls. Late in the burst (0.9) is the drain's worst case: thousands
  of reminders pending as the burst ends, each holding back its incident's later deliveries.

    python bench/webhook_intake.py [--store sqlite|postgres] [--requests 4000] [--concurrency 32] [--rounds 3]
                                  [--replicas 1] [--applier process|inline] [--held-row]
                                  [--remind-at F]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit, start_server, summary
from bench.lock_waits import LockWaits
from bench.soak import tree_cpu_seconds
from tests.helpers import incident_event

SECRET = "bench-secret"

REFERENCE = r'''
import asyncio, sqlite3, sys
from concurrent.futures import ThreadPoolExecutor
from aiohttp import web
executor = ThreadPoolExecutor(1)
conn = None
def open_db():
    global conn
    conn = sqlite3.connect(sys.argv[2], isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE inbox (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body TEXT)")
def insert(key, body):
    conn.execute("INSERT OR IGNORE INTO inbox (id, body) VALUES (?, ?)", (key, body))
async def handle(request):
    body = await request.read()
    await asyncio.get_running_loop().run_in_executor(executor, insert, request.headers.get("X-Webhook-Id"), body)
    return web.json_response({"status": "accepted"}, status=202)
async def main():
    await asyncio.get_running_loop().run_in_executor(executor, open_db)
    app = web.Application(); app.router.add_post("/pagerduty/webhook", handle)
    runner = web.AppRunner(app, access_log=None); await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True); await asyncio.Event().wait()
asyncio.run(main())
'''

REFERENCE_POSTGRES = r'''
import asyncio, sys
from aiohttp import web
from psycopg_pool import AsyncConnectionPool
from bot.adapters.store.postgres.connection import POOL_MAX
async def main():
    pool = AsyncConnectionPool(sys.argv[2], min_size=POOL_MAX, max_size=POOL_MAX, kwargs={"autocommit": True},
                               open=False)
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.execute("SET synchronous_commit = on")
        await conn.execute("CREATE TABLE ref_inbox (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                           " id TEXT UNIQUE, body TEXT)")
    async def handle(request):
        body = await request.read()
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO ref_inbox (id, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                               (request.headers.get("X-Webhook-Id"), body.decode()))
        return web.json_response({"status": "accepted"}, status=202)
    app = web.Application(); app.router.add_post("/pagerduty/webhook", handle)
    runner = web.AppRunner(app, access_log=None); await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True); await asyncio.Event().wait()
asyncio.run(main())
'''

BOT = r'''
import asyncio, os, sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from aiohttp import web
from bot.catalogue import load_catalogue, example_catalogue_path
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from tests.conftest import offline_settings
async def main():
    # Slack is unreachable here, and paced at its real tiers as in production: during a burst the dispatcher
    # waits on Slack's rate limits, while intake and the worker run at full speed.
    settings = replace(offline_settings(Path(sys.argv[2]), ("bench-secret",)), slack_rate_limit_scale=1.0,
                       applier=os.environ["PAVEDROAD_APPLIER"])
    if sys.argv[2].startswith("postgresql://"):  # the PostgreSQL store
        settings = replace(settings, db_path=Path("unused.db"), database_url=sys.argv[2])
    bot = Bot(settings, load_catalogue(example_catalogue_path()), replica_id=sys.argv[3] if len(sys.argv) > 3 else None)
    app = build_web_app(bot)
    async def remind(request):  # --remind-at: the reminder job's run, now
        return web.json_response({"recorded": await bot.toolkit.remind_due()})
    app.router.add_post("/bench/remind", remind)
    runner = web.AppRunner(app, access_log=None); await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True); await asyncio.Event().wait()
asyncio.run(main())
'''


# The row `--held-row` writes: a record from Slack of a type no version of the bot knows yet, left pending by it.
HELD_ROW = ("INSERT INTO inbox (source, delivery_id, event_id, event_type, incident_id, occurred_at, received_at, body)"
            " VALUES ('slack', 'bench-held', 'bench-held', 'bench.not_yet_known', 'QHELD', '2026-11-27T10:00:00.000Z',"
            " '2026-11-27T10:00:00.000Z', '{\"type\": \"bench.not_yet_known\"}')")


def hold_a_row(where: Path | str) -> None:
    """Write `HELD_ROW` beside the running bot (SQLite, or the PostgreSQL URL)."""
    if isinstance(where, str):
        import psycopg

        with psycopg.connect(where) as pg:
            pg.execute(HELD_ROW.encode())
        return
    with contextlib.closing(sqlite3.connect(where, timeout=30)) as conn, conn:
        conn.execute(HELD_ROW)


def pending(where: Path | str, source: str = "") -> int:
    """Deliveries stored and not yet applied (of `source`, if given), read beside the bot (SQLite read-only, or the
    PostgreSQL URL); the row `--held-row` wrote is not counted."""
    return count(where, "SELECT count(*) FROM inbox WHERE state = 'pending' AND event_id != 'bench-held'"
                 + (f" AND source = '{source}'" if source else ""))


def reminders(where: Path | str) -> int:
    """The status-update reminders the bot's job recorded (in the inbox, as records from Slack)."""
    return count(where, "SELECT count(*) FROM inbox WHERE source = 'slack' AND event_type = 'status_update.reminder'")


def count(where: Path | str, sql: str) -> int:
    if isinstance(where, str):
        import psycopg

        with psycopg.connect(where) as pg:
            row = pg.execute(sql.encode()).fetchone()
            return int(row[0]) if row else 0
    conn = sqlite3.connect(f"file:{where}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def drain(where: Path | str, within: float = 600) -> dict[str, float]:
    """From the burst's end: how many events were still pending, and the seconds until none is. Also the seconds
    until none of the burst's deliveries is (`deliveries_drain_s`): the reminders the job records (pending records
    from Slack, counted in the first) come in one transaction each, and can outlast the deliveries by far."""
    started = time.perf_counter()
    at_end = left = await asyncio.to_thread(pending, where)
    deliveries_at_end = await asyncio.to_thread(pending, where, "pagerduty")
    deliveries_drained = None
    while left and time.perf_counter() - started < within:
        if deliveries_drained is None and not await asyncio.to_thread(pending, where, "pagerduty"):
            deliveries_drained = time.perf_counter() - started
        await asyncio.sleep(0.05)
        left = await asyncio.to_thread(pending, where)
    drained = time.perf_counter() - started
    return {"pending_at_burst_end": at_end, "deliveries_pending_at_burst_end": deliveries_at_end,
            "backlog_drain_s": round(drained, 2),
            "deliveries_drain_s": round(drained if deliveries_drained is None else deliveries_drained, 2),
            "still_pending": left}


def start(code: str, db: Path | str, *extra: str, applier: str = "inline") -> tuple[subprocess.Popen[str], str]:
    process, port, _ = start_server(code, str(db), *extra, env={"LOG_LEVEL": "ERROR", "PAVEDROAD_APPLIER": applier})
    return process, f"http://127.0.0.1:{port}/pagerduty/webhook"


async def load(urls: list[str], bodies: list[bytes], concurrency: int,
               midway: Callable[[], Coroutine[Any, Any, None]] | None = None, at: float = 0.5) -> dict[str, float]:
    """Send the bodies; with `midway`, call it (beside the load) once `at` of them (a fraction) are sent."""
    latencies: list[float] = []
    queue = list(reversed(bodies))
    sent = 0
    midway_run: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal sent
            while queue:
                body = queue.pop()
                url = urls[sent % len(urls)]  # round-robin over the replicas, as a load balancer would
                sent += 1
                if midway is not None and not midway_run and sent >= len(bodies) * at:
                    midway_run.append(asyncio.create_task(midway()))
                headers = {"Content-Type": "application/json", "X-Webhook-Id": uuid.uuid4().hex,
                           "X-PagerDuty-Signature": "v1=" + hmac.new(SECRET.encode(), body,
                                                                      hashlib.sha256).hexdigest()}
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 202, response.status
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        await asyncio.gather(*midway_run)
    return summary(latencies, wall)


def bodies(n: int) -> list[bytes]:
    # Many incidents, each with a few events: what an outage burst looks like.
    events = []
    for i in range(n):
        kind = ("incident.triggered", "incident.acknowledged", "incident.annotated")[i % 3]
        event = incident_event(kind if kind != "incident.annotated" else "incident.priority_updated",
                               incident_id=f"QBENCH{i // 3:06d}", number=10_000 + i // 3)
        events.append(json.dumps(event).encode())
    return events


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--applier", choices=("inline", "process"), default="inline",
                        help="PAVEDROAD_APPLIER for the bot: the worker in the web process (the default setting), or "
                             "in a process of its own")
    parser.add_argument("--outcome-probe-ms", type=float, default=0,
                        help="with --store postgres: every so many ms, take the outbox's QUEUES_LOCK as an effect's "
                             "outcome does and time the wait (bench/lock_waits.py)")
    parser.add_argument("--held-row", action="store_true",
                        help="before the burst, write a row the bot leaves pending through it, for another incident")
    parser.add_argument("--remind-at", type=float, default=None, metavar="F",
                        help="once this fraction of the burst is sent, run the bot's status-update reminder job")
    args = parser.parse_args()
    if args.replicas > 1 and args.store != "postgres":
        parser.error("--replicas above 1 needs --store postgres (replicas share one database)")
    results: dict[str, list[dict[str, float]]] = {"reference": [], "bot": []}
    cluster = None
    if args.store == "postgres":
        from tests.pg_cluster import PostgresCluster

        cluster = PostgresCluster(durable=True)  # fsync on, synchronous_commit = on: PostgreSQL's defaults
        cluster.start()
        cluster.prepare()
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.rounds):
            # Alternate the order so that neither side always runs on a warmer machine.
            order = ("reference", "bot") if round_number % 2 == 0 else ("bot", "reference")
            for name in order:
                where: Path | str = Path(tmp) / f"{name}{round_number}.db"
                code = REFERENCE if name == "reference" else BOT
                if cluster is not None:
                    where = cluster.url(cluster.fresh_database(migrated=name == "bot"))
                    code = REFERENCE_POSTGRES if name == "reference" else BOT
                count = args.replicas if name == "bot" else 1
                started = [start(code, where, f"replica-{n}", applier=args.applier) for n in range(1, count + 1)]
                urls = [url for _, url in started]
                try:
                    await load(urls, bodies(200), args.concurrency)  # warm-up
                    if name == "bot":
                        await drain(where)
                        if args.held_row:
                            await asyncio.to_thread(hold_a_row, where)
                    pids, burst_bodies = [process.pid for process, _ in started], bodies(args.requests)
                    cpu_before, own_before = sum(map(tree_cpu_seconds, pids)), time.process_time()
                    reminders_before = await asyncio.to_thread(reminders, where) if name == "bot" else 0
                    # Who waits for the outbox's QUEUES_LOCK during the burst and its drain (bench/lock_waits.py).
                    # With --outcome-probe-ms, an outcome taking the lock that often (see LockWaits).
                    lock_waits = LockWaits(where, probe_every_s=args.outcome_probe_ms / 1000 or None).start() \
                        if name == "bot" and isinstance(where, str) else None
                    reminded: list[int] = []

                    async def remind(url: str = urls[0], reminded: list[int] = reminded) -> None:
                        # A connection of its own: the load's are all busy, and it would wait for the burst's end.
                        async with aiohttp.ClientSession() as session, \
                                session.post(url.replace("/pagerduty/webhook", "/bench/remind")) as response:
                            reminded.append((await response.json())["recorded"])
                    results[name].append(await load(urls, burst_bodies, args.concurrency,
                                                    remind if args.remind_at is not None and name == "bot" else None,
                                                    args.remind_at or 0))
                    burst = results[name][-1]
                    # CPU seconds (all threads) while the burst was stored: the server's processes, and this load
                    # generator's (they share the machine's cores).
                    burst["server_cpu_s"] = round(sum(map(tree_cpu_seconds, pids)) - cpu_before, 2)
                    burst["load_cpu_s"] = round(time.process_time() - own_before, 2)
                    if name == "bot":
                        burst.update(await drain(where))
                        # Recorded by the reminder job (each minute) while the burst was stored or drained: each is a
                        # row pending for its incident until the worker applies it.
                        burst["reminders_recorded"] = await asyncio.to_thread(reminders, where) - reminders_before
                        burst["reminders_by_remind_at"] = sum(reminded)  # of those, by --remind-at's run
                        burst["server_cpu_s_with_drain"] = round(sum(map(tree_cpu_seconds, pids)) - cpu_before, 2)
                        burst["cpu_ms_per_event"] = round(burst["server_cpu_s_with_drain"] * 1000 / args.requests, 3)
                        if lock_waits is not None:
                            burst["queues_lock_waits"] = lock_waits.stop()  # type: ignore[assignment]
                        # The burst's deliveries applied while it was being stored (the warm-up's were all applied
                        # before it); the reminders pending at its end are not the burst's (session 15: they were
                        # counted against it before).
                        burst["applied_per_s_during_burst"] = round(
                            (args.requests - burst["deliveries_pending_at_burst_end"]) * burst["throughput_per_s"]
                            / args.requests, 1)
                finally:
                    for process, _ in started:
                        process.terminate()
                        process.wait()
    if cluster is not None:
        cluster.destroy()

    def best(name: str) -> dict[str, float]:
        return max(results[name], key=lambda r: r["throughput_per_s"])
    bot, reference = best("bot"), best("reference")
    emit("webhook_intake" if args.store == "sqlite" else "webhook_intake_postgres", {
        "store": args.store, "replicas": args.replicas, "applier": args.applier, "held_row": args.held_row,
        "remind_at": args.remind_at,
        "concurrency": args.concurrency,
        "requests": args.requests, "rounds": args.rounds,
        "reference": reference, "bot": bot, "all_rounds": results,
        "throughput_ratio": round(bot["throughput_per_s"] / reference["throughput_per_s"], 2),
        "backlog_drain_s": max(r["backlog_drain_s"] for r in results["bot"]),
        "applied_per_s_during_burst": min(r["applied_per_s_during_burst"] for r in results["bot"]),
        "targets": {"throughput_ratio_min": 0.6, "p99_ms_max": 25 if args.store == "sqlite" else 50,
                    "backlog_drain_s_max": 5, "applied_per_s_during_burst_min": 1000},
    })


if __name__ == "__main__":
    asyncio.run(main())
