"""Soak: N incidents, each triggered, acknowledged and resolved in PagerDuty, through the emulators and `pavedroad
serve` running as real processes. Measures the bot's CPU per incident (from /proc/<pid>/stat) over the first and
the last block of incidents (a thousand, or a fifth of a smaller run), its memory at the start and the end, and its
database's bytes per incident; beside a reference measured after each block, while the bot idles (each block is
compared with the slice next to it: the machine is shared, and its load moves both alike): a bare script making the
same outside calls (the call mix the bot made per incident, counted by the emulators) with the same clients (slack_sdk's
AsyncWebClient, the `pagerduty` package's REST client on a thread pool, aiohttp for ServiceNow's Table API). Prints
JSON.

    python bench/soak.py [--incidents 10000] [--batch 25] [--profile DIR] [--retention-days D]

With --profile DIR, py-spy (pip install py-spy; --py-spy names its binary) samples the bot and the emulators over
the measured incidents and leaves bot.txt and emulators.txt there, in py-spy's collapsed-stack ("raw") format.
With --perf, Linux `perf record` samples the bot's process (its applier process, if any, is not sampled) over the
measured incidents, and the JSON gets `perf_split`: its CPU by thread and by kind — the interpreter, SQLite's engine,
the kernel by system call (bench/perf_split.py).

Slack pacing is off on both sides (SLACK_RATE_LIMIT_SCALE=0, emulators at rate-limit scale 0): the soak measures
work, not waiting. Incidents go in batches: a batch is triggered, then acknowledged, then resolved, each step
waiting until the bot has nothing pending (read from its database, read-only, so the watching costs the bot no
CPU). On the shared two-core machine, busy with other work, 500 incidents took 3 minutes (and 1.5 more for the
reference) and 3,000 took 19: 10,000 take about an hour (the bot's CPU per incident bounds it). The emulators' own
CPU per incident is printed too (issue 16, item 8: it must stay flat).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, emit, free_port, start_server
from bench.perf_split import perf_split
from bench.store_size import measure_retention
from bot.catalogue import example_catalogue_path, load_catalogue

TICK = os.sysconf("SC_CLK_TCK")

EMULATORS = r'''
import asyncio, json, logging, sys
from aiohttp import web
from bot.catalogue import load_catalogue, example_catalogue_path
from sandbox.world import SERVICENOW_USER, Sandbox, SandboxSecrets
async def main():
    logging.basicConfig(level=logging.ERROR)
    keys = SandboxSecrets.from_env()
    sandbox = Sandbox(load_catalogue(example_catalogue_path()), keys, rate_limit_scale=0)
    app = web.Application(); sandbox.add_routes(app)
    url = f"http://127.0.0.1:{sys.argv[1]}"
    sandbox.connect(sys.argv[2], url)
    runner = web.AppRunner(app, access_log=None); await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    env = {"SLACK_BOT_TOKEN": keys.slack_bot_token, "SLACK_SIGNING_SECRET": keys.slack_signing_secret,
           "PAGERDUTY_API_TOKEN": keys.pagerduty_api_token,
           "PAGERDUTY_WEBHOOK_SECRETS": ",".join(keys.pagerduty_webhook_secrets),
           "SLACK_API_URL": f"{url}/sandbox/slack/api/", "PAGERDUTY_API_URL": f"{url}/sandbox/pagerduty/api",
           "SERVICENOW_INSTANCE_URL": f"{url}/sandbox/servicenow", "SERVICENOW_USERNAME": SERVICENOW_USER,
           "SERVICENOW_PASSWORD": keys.servicenow_password,
           "SERVICENOW_WEBHOOK_SECRET": keys.servicenow_webhook_secret,
           "CATALOGUE_PATH": str(example_catalogue_path())}
    print("ready", json.dumps(env, separators=(",", ":")), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
'''


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15 of proc(5)


def children(pid: int) -> list[int]:
    """A process's live child processes (the bot's applier process, with PAVEDROAD_APPLIER=process)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # the thread ended meanwhile
            found += map(int, (task / "children").read_text().split())
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its children so far."""
    return cpu_seconds(pid) + sum(map(tree_cpu_seconds, children(pid)))


def cpu_by_thread(pid: int) -> dict[str, float]:
    """User + system CPU so far per thread of a process (`<role>_sys`: the system part), by role: `loop` (the main
    thread, where the event loop runs), `store` (the SQLite store's thread: bot/adapters/store/sqlite/thread.py names
    it), `other` (thread pools: the PagerDuty client's, asyncio's default executor). Threads that ended are missing
    (their CPU stays in the process's total, so `other` may be under-counted)."""
    roles = dict.fromkeys(("loop", "store", "other", "loop_sys", "store_sys", "other_sys"), 0.0)
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                comm, rest = stat.read().split(" (", 1)[1].rsplit(")", 1)
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        fields = rest.split()
        role = "loop" if tid == str(pid) else "store" if comm == "pavedroad-store" else "other"
        roles[role] += (int(fields[11]) + int(fields[12])) / TICK
        roles[f"{role}_sys"] += int(fields[12]) / TICK
    return roles


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the applier process, with PAVEDROAD_APPLIER=process)."""
    with open(f"/proc/{pid}/status") as status:
        own = int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024
    return own + sum(map(rss_mb, children(pid)))


class Soak:
    def __init__(self, session: aiohttp.ClientSession, emulators_url: str, db: Path, bot_pid: int) -> None:
        self.session, self.url, self.db, self.bot_pid = session, emulators_url, db, bot_pid
        self.services = [s.pagerduty_service_id for s in load_catalogue(example_catalogue_path()).services]
        self.triggered = 0

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.url}/sandbox/pagerduty{path}", json=body) as response:
            assert response.status in (200, 201), (path, response.status, await response.text())
            answer: dict[str, Any] = await response.json()
            return answer

    async def batch(self, size: int) -> None:
        """Trigger `size` incidents, then acknowledge them, then resolve them, letting the bot settle each time."""
        ids = []
        for _ in range(size):
            n = self.triggered
            self.triggered += 1
            incident = await self._post("/incidents", {"title": f"Soak incident {n}",
                                                       "service_id": self.services[n % len(self.services)],
                                                       "urgency": "high"})
            ids.append(str(incident["incident"]["id"]))
        await self.settled()
        for action in ("acknowledge", "resolve"):
            for incident_id in ids:
                await self._post(f"/incidents/{incident_id}/{action}", {})
            await self.settled()

    async def settled(self, quiet: float = 0.4, within: float = 600) -> None:
        """Until the bot has applied every delivery and performed every effect now due, and no new delivery has
        arrived for `quiet` seconds (ServiceNow's business rule calls back after the bot's own updates)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            deadline, last, since = time.monotonic() + within, None, time.monotonic()
            while time.monotonic() < deadline:
                try:
                    pending = conn.execute("SELECT count(*) FROM inbox WHERE state = 'pending'").fetchone()[0]
                    due = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?",
                                       (time.time() + 0.5,)).fetchone()[0]
                    newest = conn.execute("SELECT max(seq) FROM inbox").fetchone()[0]
                except sqlite3.OperationalError:  # the bot is migrating its fresh database
                    pending, due, newest = 1, 1, None
                if pending or due or newest != last:
                    last, since = newest, time.monotonic()
                elif time.monotonic() - since >= quiet:
                    return
                await asyncio.sleep(0.05)
            raise SystemExit(f"the bot did not settle within {within} s ({pending} deliveries, {due} effects due)")
        finally:
            conn.close()

    async def state(self) -> dict[str, Any]:
        async with self.session.get(f"{self.url}/sandbox/state") as response:
            state: dict[str, Any] = await response.json()
            return state


def call_mix(before: dict[str, Any], after: dict[str, Any], incidents: int) -> dict[str, dict[str, float]]:
    """Outside calls per incident, per system and method, between two emulator snapshots."""
    return {system: {call: round((count - before[system]["calls"].get(call, 0)) / incidents, 4)
                     for call, count in after[system]["calls"].items()
                     if count > before[system]["calls"].get(call, 0)}
            for system in ("slack", "pagerduty", "servicenow")}


def samples(state: dict[str, Any]) -> dict[str, Any]:
    """What the reference needs to make valid calls: the card as the bot posts it, people, schedules, a group."""
    bot = state["slack"]["bot"]["user_id"]
    incident_channels = {c["id"] for c in state["slack"]["channels"] if c["name"].startswith("inc-")}
    card = next(m for m in state["slack"]["messages"]
                if m["channel"] in incident_channels and m["user"] == bot and m["blocks"])
    return {"card_text": card["text"], "card_blocks": card["blocks"],
            "slack_users": [u["id"] for u in state["slack"]["users"]],
            "emails": [u["email"] for u in state["slack"]["users"] if u["email"]],
            "announce_channel": next(c["id"] for c in state["slack"]["channels"]
                                     if not c["name"].startswith("inc-") and not c["is_im"]),
            "pagerduty_users": [u["id"] for u in state["pagerduty"]["users"]],
            "pagerduty_schedules": [s["id"] for s in state["pagerduty"]["schedules"]],
            "pagerduty_incidents": [i["id"] for i in state["pagerduty"]["incidents"][:50]],
            "group": state["servicenow"]["groups"][0]["name"],
            # An App Home view as the bot published it, and who it was for (the reference publishes the same).
            "home_views": [{"user_id": user, "view": {k: view[k] for k in ("type", "blocks") if k in view}}
                           for user, view in list(state["slack"].get("home_views", {}).items())[:20]]}


def profile(py_spy: str, folder: Path | None, pids: dict[str, int], gil: bool = False,
            rate: int = 50, native: bool = False) -> list[subprocess.Popen[bytes]]:
    """py-spy recording each process (without pausing it) until told to stop (SIGINT); with `gil`, only the thread
    holding the GIL is sampled (Python's own CPU, not native waits); `rate` samples a second; with `native`, C frames
    too (SQLite's, libc's: e.g. the store's thread waiting to take the GIL back after a commit)."""
    if folder is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
                              "--nonblocking",
                              *(["--gil"] if gil else []),
                              *(["--native"] if native else []),
                              "--output", str(folder / f"{name}.txt")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for name, pid in pids.items()]


def record_perf(perf: str, pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Linux perf sampling `pid` (its threads, call stacks, 999 a second) until told to stop (SIGINT)."""
    return subprocess.Popen([perf, "record", "-F", "999", "-g", "-p", str(pid), "-o", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_or_why(data: Path, perf: str) -> dict[str, object]:
    """`perf_split` of the recording, or why there is none (perf refused to record, e.g. kernel.perf_event_paranoid):
    the soak's own figures are printed either way."""
    try:
        return perf_split(data, perf)
    except (OSError, subprocess.CalledProcessError) as error:
        return {"error": f"perf could not record or read the bot: {error}"}


def store_trips(counts_file: Path, incidents: int) -> dict[str, Any]:
    """Store trips and commits per incident (`--trips`): the totals, and each kind's, most frequent first."""
    counts: dict[str, int] = json.loads(counts_file.read_text()) if counts_file.exists() else {}

    def per(prefix: str) -> dict[str, float]:
        return {k[len(prefix):]: round(v / incidents, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
                if k.startswith(prefix)}
    trips, commits = per("trip:"), per("commit:")
    return {"store_trips_per_incident": round(sum(trips.values()), 1),
            "commits_per_incident": round(sum(commits.values()), 1), "commits_by_kind": commits,
            "grouped_writes_per_incident": per("grouped_writes").get("", 0.0), "trips_by_kind": trips,
            "grouped_by_kind": per("grouped:"),
            # The store thread's CPU (µs per incident) by kind of job, and by kind of write inside a group commit.
            "store_cpu_us_by_kind": {k: round(v) for k, v in per("cpu_us:").items()},
            "grouped_cpu_us_by_kind": {k: round(v) for k, v in per("grouped_cpu_us:").items()}}


def database_bytes(folder: str) -> int:
    """The bot's database with its WAL, once the bot has stopped."""
    return sum(p.stat().st_size for p in Path(folder).glob("soak.db*"))


def start_bot(env: dict[str, str], port: int, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.app.cli.main", "serve", "--port", str(port), "--db", str(db)],
                            env={**os.environ, **env, "PYTHONPATH": str(ROOT), "SLACK_RATE_LIMIT_SCALE": "0",
                                 "LOG_LEVEL": "WARNING"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_healthy(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(300):
        try:
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the bot did not start")


async def run_intake_reference(incidents: int, warm_up: int = 10) -> dict[str, float]:
    """What the call-making reference does not pay and the bot must: receiving the incidents' three webhooks and
    storing each durably before answering. Measured on bench/webhook_intake.py's bare intake (aiohttp and a SQLite
    insert in WAL with synchronous=FULL, on a thread of its own; no signature check, no JSON parsed), in a process of
    its own, sent three deliveries per incident (triggered, acknowledged, another) four at a time."""
    from bench.webhook_intake import REFERENCE, bodies, load, start  # (it imports this module)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start(REFERENCE, Path(tmp) / "intake.db")
        try:
            deliveries = bodies(3 * (warm_up + incidents))
            await load([url], deliveries[:3 * warm_up], 4)
            before = cpu_seconds(server.pid)
            await load([url], deliveries[3 * warm_up:], 4)
            spent = cpu_seconds(server.pid) - before
        finally:
            server.terminate()
            server.wait()
    return {"incidents": incidents, "cpu_ms_per_incident": round(spent * 1000 / incidents, 2)}


def run_reference(env: dict[str, str], mix: dict[str, dict[str, float]], sample: dict[str, Any],
                  incidents: int, stock: bool = False) -> dict[str, Any]:
    """One reference slice (bench/soak_reference.py); `stock`: its clients with their libraries' defaults instead
    of set up as the bot sets them up."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump({"env": env, "mix": mix, "sample": sample, "incidents": incidents, "stock": stock}, spec)
    try:
        finished = subprocess.run([sys.executable, str(Path(__file__).with_name("soak_reference.py")), spec.name],
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                                  check=False)
    finally:
        os.unlink(spec.name)
    if finished.returncode != 0:
        raise SystemExit(f"the reference failed: {finished.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--reference-incidents", type=int, default=200,
                        help="incidents of the reference run after each block (its slice of the comparison)")
    parser.add_argument("--profile", type=Path, default=None, help="sample the bot and emulators with py-spy")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--gil", action="store_true", help="profile only the thread holding the GIL (py-spy --gil)")
    parser.add_argument("--rate", type=int, default=50, help="py-spy's samples per second (--profile)")
    parser.add_argument("--native", action="store_true", help="py-spy --native: C frames too (SQLite's, the kernel's)")
    parser.add_argument("--retention-days", type=float, default=None,
                        help="then prune as retention would with these days (0: all settled rows; bench/store_size.py)")
    parser.add_argument("--applier", choices=("inline", "process"), default=None,
                        help="PAVEDROAD_APPLIER for the bot (default: the bot's own default); the bot's CPU counts "
                             "its applier process too")
    parser.add_argument("--perf", nargs="?", const=shutil.which("perf") or "perf", default=None,
                        help="sample the bot with Linux perf (optionally its binary's path): `perf_split` in the JSON")
    parser.add_argument("--trips", action="store_true",
                        help="count the bot's store trips and commits per incident, by kind (warm-up included)")
    args = parser.parse_args()
    block = min(1000, max(args.batch, args.incidents // 5 // args.batch * args.batch))
    bot_port = free_port()
    bot_url = f"http://127.0.0.1:{bot_port}"
    emulators, emulators_port, values = start_server(EMULATORS, bot_url, env={"LOG_LEVEL": "ERROR"})
    emulators_url = f"http://127.0.0.1:{emulators_port}"
    env: dict[str, str] = json.loads(values[0])
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "soak.db"
        trips_file = Path(tmp) / "trips.json"
        bot_env = {**env, **({"PAVED_ROAD_STORE_TRIPS": str(trips_file)} if args.trips else {}),
                   **({"PAVEDROAD_APPLIER": args.applier} if args.applier else {})}
        bot = start_bot(bot_env, bot_port, db)
        try:
            async with aiohttp.ClientSession() as session:
                await wait_healthy(session, bot_url)
                soak = Soak(session, emulators_url, db, bot.pid)
                for _ in range(max(1, args.warm_up // args.batch)):
                    await soak.batch(min(args.batch, args.warm_up))
                warm = await soak.state()
                rss_start = rss_mb(bot.pid)
                profilers = profile(args.py_spy, args.profile, {"bot": bot.pid, "emulators": emulators.pid},
                                    args.gil, args.rate, args.native)
                perf_data = Path(tmp) / "bot.perf.data"
                if args.perf:
                    profilers.append(record_perf(args.perf, bot.pid, perf_data))
                blocks: list[dict[str, float]] = []
                references: list[dict[str, Any]] = []
                stock_references: list[dict[str, Any]] = []
                intake_references: list[dict[str, float]] = []
                mix: dict[str, dict[str, float]] = {}
                sample: dict[str, Any] = {}
                done = 0
                while done < args.incidents:
                    size = min(block, args.incidents - done)
                    cpu = (tree_cpu_seconds(bot.pid), cpu_seconds(emulators.pid), time.monotonic())
                    threads = cpu_by_thread(bot.pid)
                    for _ in range(size // args.batch):
                        await soak.batch(args.batch)
                    if size % args.batch:
                        await soak.batch(size % args.batch)
                    blocks.append({"incidents": size, "bot_cpu_s": tree_cpu_seconds(bot.pid) - cpu[0],
                                   "emulators_cpu_s": cpu_seconds(emulators.pid) - cpu[1],
                                   "wall_s": time.monotonic() - cpu[2], "rss_mb": rss_mb(bot.pid),
                                   **{f"bot_{role}_cpu_s": seconds - threads[role]
                                      for role, seconds in cpu_by_thread(bot.pid).items()}})
                    done += size
                    if not mix:  # the call mix over the first block, while the emulators' world is small
                        state = await soak.state()
                        mix, sample = call_mix(warm, state, size), samples(state)
                    # The reference runs after each block, while the bot idles: each block is compared with the
                    # reference measured next to it, so a change in the machine's load (it is shared) moves both.
                    idle = tree_cpu_seconds(bot.pid)
                    references.append(run_reference(env, mix, sample, min(args.reference_incidents, size)))
                    references[-1]["bot_cpu_s_meanwhile"] = round(tree_cpu_seconds(bot.pid) - idle, 3)
                    stock_references.append(run_reference(env, mix, sample, min(args.reference_incidents, size),
                                                          stock=True))
                    intake_references.append(await run_intake_reference(min(args.reference_incidents, size)))
                rss_end = rss_mb(bot.pid)
                for profiler in profilers:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(120)
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(30)
        db_bytes = database_bytes(tmp)
        trips = store_trips(trips_file, soak.triggered) if args.trips else {}
        perf = {"perf_split": perf_or_why(perf_data, args.perf)} if args.perf else {}
        retained = {} if args.retention_days is None else await measure_retention(db, args.retention_days,
                                                                                   soak.triggered)
    soak_s = time.monotonic() - started
    emulators.terminate()
    emulators.wait()

    def per_incident(b: dict[str, float], key: str) -> float:
        return round(b[key] * 1000 / b["incidents"], 1)
    first, last = blocks[0], blocks[-1]
    ratios = [round(per_incident(b, "bot_cpu_s") / r["cpu_ms_per_incident"], 2)
              for b, r in zip(blocks, references, strict=True)]
    reference_ms = statistics.median(r["cpu_ms_per_incident"] for r in references)
    stock_ratios = [round(per_incident(b, "bot_cpu_s") / r["cpu_ms_per_incident"], 2)
                    for b, r in zip(blocks, stock_references, strict=True)]
    with_intake = [round(per_incident(b, "bot_cpu_s") / (r["cpu_ms_per_incident"] + i["cpu_ms_per_incident"]), 2)
                   for b, r, i in zip(blocks, references, intake_references, strict=True)]
    emit("soak", {
        "incidents": args.incidents, "warm_up_incidents": args.warm_up, "block": block, "batch": args.batch,
        "cpu_ms_per_incident_first": per_incident(first, "bot_cpu_s"),
        "cpu_ms_per_incident_last": per_incident(last, "bot_cpu_s"),
        "reference_cpu_ms_per_incident": reference_ms,  # the median of the slices run after each block
        "cpu_over_reference_first": ratios[0],
        "cpu_over_reference_last": ratios[-1],
        # Each block over the reference slice run right after it, and their median: the figure to quote.
        "cpu_over_reference_blocks": ratios, "cpu_over_reference_median": statistics.median(ratios),
        # The same against a reference whose clients keep their libraries' defaults (slack_sdk formatting DEBUG lines
        # it drops, the standard library's JSON): what a bare script written without the bot's care would spend.
        "stock_reference_cpu_ms_per_incident": [r["cpu_ms_per_incident"] for r in stock_references],
        "cpu_over_stock_reference_blocks": stock_ratios,
        "cpu_over_stock_reference_median": statistics.median(stock_ratios),
        # The same against the reference plus a bare intake of the same webhooks (measured after each block too):
        # what a bare script would spend that both made the calls and received the deliveries that ask for them.
        "intake_reference_cpu_ms_per_incident": [i["cpu_ms_per_incident"] for i in intake_references],
        "cpu_over_reference_with_intake_blocks": with_intake,
        "cpu_over_reference_with_intake_median": statistics.median(with_intake),
        "last_over_first": round(per_incident(last, "bot_cpu_s") / per_incident(first, "bot_cpu_s"), 2),
        # The same read against the emulators, measured over the very same blocks: on a shared machine that speeds up
        # or slows down over a long run, both move together, and the reference's short slices cannot follow it (the
        # emulators' own cost per call is flat as their world grows: issue 16, item 8).
        "cpu_over_emulators_blocks": [round(b["bot_cpu_s"] / b["emulators_cpu_s"], 2) for b in blocks],
        "last_over_first_against_emulators": round((last["bot_cpu_s"] / last["emulators_cpu_s"])
                                                   / (first["bot_cpu_s"] / first["emulators_cpu_s"]), 2),
        "db_bytes_per_incident": round(db_bytes / soak.triggered),  # warm-up incidents included
        "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_end, 1),
        # The bot's event-loop thread alone (Slack/ServiceNow calls, webhooks, effects, rendering); the rest of the
        # bot's CPU is its other threads (SQLite's store thread above all).
        "loop_cpu_ms_per_incident_first": per_incident(first, "bot_loop_cpu_s"),
        "loop_cpu_ms_per_incident_last": per_incident(last, "bot_loop_cpu_s"),
        # Where the bot's CPU went, per thread (ms per incident over each block): the event loop's thread, the
        # store's thread, the thread pools; `*_sys` is the part spent in the kernel (system calls, fsync).
        "bot_cpu_by_thread": {role: [per_incident(b, f"bot_{role}_cpu_s") for b in blocks]
                              for role in ("loop", "store", "other", "loop_sys", "store_sys", "other_sys")},
        "emulators_cpu_ms_per_incident_first": per_incident(first, "emulators_cpu_s"),
        "emulators_cpu_ms_per_incident_last": per_incident(last, "emulators_cpu_s"),
        "calls_per_incident": mix, "reference": references, "soak_wall_s": round(soak_s, 1),
        "blocks": [{k: round(v, 2) for k, v in b.items()} for b in blocks],
        "targets": {"cpu_over_reference_max": 2.0, "last_over_first_max": 1.1}, **retained, **trips, **perf,
    })


if __name__ == "__main__":
    asyncio.run(main())
