"""`pavedroad report` on a large history: wall time (median of 3) and peak memory of the real command, run as its own
process on a store of N past incidents, beside a bare reference run the same way in the same run: a script that
only reads every incident row and decodes its JSON (sqlite3 + json, no project code). A second reference decodes
each row with the store's own codec (`incident_from_json`), the least the report does today. Prints JSON.

The store is built with the project's own history writer (the IncidentHistory port's `add_history`, as
`pavedroad history seed/import` do): N resolved incidents of the example catalogue's services, spread evenly over
four years, with seeded-random times to acknowledge and restore. With --db PATH the store is kept there (and reused
when it already holds N incidents), so a report can be profiled on it afterwards.

    python bench/report.py [--incidents 100000] [--db PATH] [--by period] [--rounds 3] [--store sqlite|postgres]

Every program measured runs with the project's bytecode compiled beforehand, as an installed package has it (pip
compiles it at install; the container image is built so): under PYTHONDONTWRITEBYTECODE, as in this repository's
development shells, each run would otherwise recompile the project's modules from source. The bytecode is kept in a
temporary PYTHONPYCACHEPREFIX, never in the source tree.

Building 100,000 incidents takes about a minute on two cores. A kept store is migrated before it is measured (the
report reads the incidents' indexed columns). The same command on an empty store is measured too
(`empty_store_report_*`): the command's fixed cost (interpreter, imports, catalogue), which does not grow with the
history.

`pavedroad report` keeps a view of the catalogue it validated ($XDG_CACHE_HOME/pavedroad, see
bot/app/cli/report_catalogue.py) and starts from it while the catalogue is unchanged: the bench gives the measured
programs a cache folder of its own, warmed by one unmeasured report, so the figures are those of every report after
the first on a catalogue. The first (`cold_catalogue_report_*`: a fresh cache folder each run, so the catalogue is
validated in full) is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, emit
from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import example_catalogue_path, load_catalogue
from bot.domain.events import Person
from bot.domain.incident import Incident, Status
from bot.ports.store import Store

START = datetime(2019, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=4 * 365)
FIRST_NUMBER = 200_001  # above the synthetic history's numbers and the sandbox's live ones
BATCH = 5_000

# Each measured program reports its own peak RSS (VmHWM) as it exits: the rusage of a child started by vfork counts
# the parent's memory too.
PEAK = r'''
import atexit, sys
def peak():
    with open("/proc/self/status") as status:
        print(next(line for line in status if line.startswith("VmHWM")), file=sys.stderr, end="")
atexit.register(peak)
'''

READ_AND_DECODE = PEAK + r'''
import json, sqlite3
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
n = 0
for (data,) in conn.execute("SELECT data FROM incidents ORDER BY number"):
    json.loads(data)
    n += 1
print(n)
'''

READ_AND_DECODE_WITH_CODEC = PEAK + r'''
import sqlite3
from bot.adapters.store.codec import incident_from_json
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(sum(1 for (data,) in conn.execute("SELECT data FROM incidents ORDER BY number") if incident_from_json(data)))
'''

READ_AND_DECODE_POSTGRES = PEAK + r'''
import json, psycopg
n = 0
with psycopg.connect(sys.argv[1]) as conn, conn.cursor("every_incident") as rows:
    rows.execute("SELECT data FROM incidents ORDER BY number")
    for (data,) in rows:
        json.loads(data)
        n += 1
print(n)
'''

REPORT = PEAK + r'''
import runpy
sys.argv = ["pavedroad", *sys.argv[1:]]
runpy.run_module("bot.app.cli.main", run_name="__main__")
'''


def past_incidents(n: int) -> list[Incident]:
    """N resolved incidents, round-robin over the example catalogue's services, evenly through four years."""
    services = load_catalogue(example_catalogue_path()).services
    rng = random.Random(16)
    incidents = []
    for k in range(n):
        service = services[k % len(services)]
        triggered = START + SPAN * (k + 0.5) / n
        tta = timedelta(minutes=rng.uniform(1, 45))
        ttr = tta + timedelta(minutes=rng.expovariate(1 / 90))
        number = FIRST_NUMBER + k
        incidents.append(Incident(
            id=f"QBENCH{number}", number=number, title=f"{service.name} degraded (bench history)",
            status=Status.RESOLVED, urgency="high" if k % 3 else "low", priority=None,
            service_id=service.pagerduty_service_id, service_name=service.name, escalation_policy_id=None,
            escalation_policy_name=None, html_url="", assignees=(Person("PBENCH1", "Bench responder"),),
            triggered_at=triggered, acknowledged_at=triggered + tta, resolved_at=triggered + ttr,
            state_as_of=triggered + ttr, dedicated_channel=False, trigger_seen=True))
    return incidents


def stored_incidents(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM incidents").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


async def migrated(db: Path) -> None:
    """Bring a kept store's schema up to date (the report reads the columns the latest migrations add)."""
    store = SqliteStore(db)
    await store.open()
    await store.close()


async def build(db: Path | str, n: int) -> float:
    """Write the history through the store's IncidentHistory port, in batches; returns the seconds it took. `db` is
    an SQLite file or a PostgreSQL URL."""
    started = time.perf_counter()
    store: Store = PostgresStore(db) if isinstance(db, str) else SqliteStore(db)
    await store.open()
    try:
        incidents = past_incidents(n)
        for i in range(0, n, BATCH):
            await store.add_history(incidents[i:i + BATCH], (), time.time())
    finally:
        await store.close()
    return time.perf_counter() - started


# Set by `compiled_bytecode`: where the measured programs find the project's bytecode.
BYTECODE: dict[str, str] = {}
# Set by `main`: where the measured reports keep their catalogue view; COLD as XDG_CACHE_HOME: a new folder each run.
CACHE: dict[str, str] = {}
COLD = "cold"


def compiled_bytecode(tmp: Path) -> None:
    """Compile the project's modules once into a temporary bytecode cache that every measured program reads (as an
    installed package's), instead of each run compiling them from source."""
    BYTECODE.update({"PYTHONPYCACHEPREFIX": str(tmp / "pycache"), "PYTHONDONTWRITEBYTECODE": ""})
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "bot")], check=True,
                   env={**os.environ, **BYTECODE}, stdout=subprocess.DEVNULL)


def run_once(argv: list[str], extra_env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run a program as its own process: (wall seconds, CPU seconds, its peak RSS in MB as it reported it). CPU
    time is the figure to trust on a busy machine: wall time there includes waiting for a core."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "ERROR", **BYTECODE, **CACHE, **(extra_env or {})}
    if env.get("XDG_CACHE_HOME") == COLD:  # a folder of its own for this run: nothing kept, the catalogue validated
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="cold-", dir=CACHE["XDG_CACHE_HOME"])
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.stderr.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({process.returncode}): {stderr[-2000:]}")
    peak_kb = next(int(line.split()[1]) for line in stderr.splitlines() if line.startswith("VmHWM"))
    return wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024


def measure(argv: list[str], rounds: int, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    runs = [run_once(argv, extra_env) for _ in range(rounds)]
    return {"median_s": round(statistics.median(w for w, _, _ in runs), 3),
            "median_cpu_s": round(statistics.median(c for _, c, _ in runs), 3),
            "peak_rss_mb": round(max(m for _, _, m in runs), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None, help="keep the store here (reused if it holds N incidents)")
    parser.add_argument("--by", action="append", default=None,
                        help="groupings to time (repeatable; default: the catalogue's default grouping)")
    parser.add_argument("--chart", action="store_true", help="also time the report with --chart")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: a throwaway cluster the bench starts (tests/pg_cluster.py, durable defaults)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        compiled_bytecode(Path(tmp))
        CACHE["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        if args.store == "postgres":
            postgres(args, Path(tmp))
            return
        db = args.db or Path(tmp) / "report.db"
        held = stored_incidents(db)
        if held not in (0, args.incidents):
            raise SystemExit(f"{db} holds {held} incidents, not {args.incidents}: give another --db")
        build_s = asyncio.run(build(db, args.incidents)) if held == 0 else None
        asyncio.run(migrated(db))
        # The command's fixed cost (interpreter, imports, catalogue) measured on an empty store: what does not grow
        # with the history.
        empty = Path(tmp) / "empty.db"
        asyncio.run(migrated(empty))
        run_once([sys.executable, "-c", REPORT, "report", "--db", str(empty)])  # keeps the catalogue's view
        startup = measure([sys.executable, "-c", REPORT, "report", "--db", str(empty)], args.rounds)
        # The build (or a first reference run) leaves the database in the page cache: every run reads it warm.
        reference = measure([sys.executable, "-c", READ_AND_DECODE, str(db)], args.rounds)
        codec = measure([sys.executable, "-c", READ_AND_DECODE_WITH_CODEC, str(db)], args.rounds)
        timings = time_reports(args, [sys.executable, "-c", REPORT, "report", "--db", str(db)], Path(tmp))
        publish(args, timings, reference, startup, codec, build_s, db.stat().st_size)


def postgres(args: argparse.Namespace, tmp: Path) -> None:
    """The same on PostgreSQL: the report reads PAVEDROAD_DATABASE_URL (no --db); the reference streams every row
    through a server-side cursor. CPU figures are the client's: the server's share of the work is not in them."""
    from tests.pg_cluster import PostgresCluster

    cluster = PostgresCluster(durable=True)
    try:
        cluster.start()
        cluster.prepare()
        url, empty = cluster.url(cluster.fresh_database()), cluster.url(cluster.fresh_database())
        build_s = asyncio.run(build(url, args.incidents))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(b"VACUUM ANALYZE incidents")  # as autovacuum would, before the reads
            size = conn.execute(b"SELECT pg_database_size(current_database())").fetchone()
        report = [sys.executable, "-c", REPORT, "report"]
        run_once(report, {"PAVEDROAD_DATABASE_URL": empty})  # keeps the catalogue's view
        startup = measure(report, args.rounds, {"PAVEDROAD_DATABASE_URL": empty})
        reference = measure([sys.executable, "-c", READ_AND_DECODE_POSTGRES, url], args.rounds)
        timings = time_reports(args, report, tmp, {"PAVEDROAD_DATABASE_URL": url})
        publish(args, timings, reference, startup, None, build_s, int(size[0]) if size else 0)
    finally:
        cluster.destroy()


def time_reports(args: argparse.Namespace, report: list[str], tmp: Path,
                 extra_env: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    timings: dict[str, dict[str, float]] = {}
    for by in args.by or [None]:
        timings[by or "default"] = measure(report + (["--by", by] if by else []), args.rounds, extra_env)
    first = args.by[0] if args.by else None
    timings["cold_catalogue"] = measure(report + (["--by", first] if first else []), args.rounds,
                                        {**(extra_env or {}), "XDG_CACHE_HOME": COLD})
    if args.chart:
        timings["default+chart"] = measure([*report, "--chart", str(tmp / "chart.png")], args.rounds, extra_env)
    return timings


def publish(args: argparse.Namespace, timings: dict[str, dict[str, float]], reference: dict[str, float],
            startup: dict[str, float], codec: dict[str, float] | None, build_s: float | None, size: int) -> None:
    first = next(iter(timings.values()))
    emit("report", {
        "store": args.store, "incidents": args.incidents, "report_s": first["median_s"],
        "reference_s": reference["median_s"], "report_cpu_s": first["median_cpu_s"],
        "reference_cpu_s": reference["median_cpu_s"],
        "reference_codec_cpu_s": codec["median_cpu_s"] if codec else None,
        "peak_rss_mb": first["peak_rss_mb"], "reference_peak_rss_mb": reference["peak_rss_mb"],
        "reference_codec_s": codec["median_s"] if codec else None,
        "report_over_reference": round(first["median_s"] / reference["median_s"], 2),
        "report_cpu_over_reference_cpu": round(first["median_cpu_s"] / reference["median_cpu_s"], 2),
        "empty_store_report_s": startup["median_s"], "empty_store_report_cpu_s": startup["median_cpu_s"],
        "empty_store_peak_rss_mb": startup["peak_rss_mb"],
        "cold_catalogue_report_s": timings["cold_catalogue"]["median_s"],
        "cold_catalogue_report_cpu_s": timings["cold_catalogue"]["median_cpu_s"],
        "by_grouping": timings, "build_s": round(build_s, 1) if build_s is not None else None,
        "rounds": args.rounds, "db_bytes": size, "bytecode": "compiled beforehand, as installed",
        "targets": {"report_s_max": 1.0},
    })


if __name__ == "__main__":
    main()
