"""Delivery CPU: the bot's CPU per PagerDuty webhook delivery, end to end — the door, the signature, the durable
intake, the worker (or the apply on arrival), deciding, storing the incident, its line and its effects — with the
soak's rhythm (issue 16, item 5): incidents in batches, each batch triggered, then acknowledged, then resolved, each
step sent one delivery after the other (`--together`: all at once) and then let settle (every delivery applied).
Beside a bare reference measured in the same run: an aiohttp handler that only stores each body in SQLite with the
same durability (bench/webhook_intake.py's).

The bot runs as `pavedroad serve` does (its web app, its store, its worker) but without the dispatcher and the
scheduler, so what is measured is the delivery path and not the effects it queues (Slack and the rest are
unreachable here; the effects wait in the outbox). CPU is read from /proc, per thread (`loop`: the event loop's;
`store`: the SQLite store's). Prints JSON.

    python bench/delivery_cpu.py [--incidents 300] [--batch 25] [--together]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit, start_server
from bench.soak import cpu_by_thread, cpu_seconds
from bench.webhook_intake import REFERENCE, SECRET
from tests.helpers import incident_event

BOT = r'''
import asyncio, sys
from pathlib import Path
from aiohttp import web
from bot.catalogue import load_catalogue, example_catalogue_path
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from tests.helpers import offline_settings
async def main():
    bot = Bot(offline_settings(Path(sys.argv[2]), ("bench-secret",)), load_catalogue(example_catalogue_path()))
    await bot.store.open()
    worker = asyncio.create_task(bot.worker.run())  # the dispatcher and the scheduler are not started
    runner = web.AppRunner(build_web_app(bot, manage_lifecycle=False, socket_mode=False), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True); await asyncio.Event().wait()
asyncio.run(main())
'''


def pending(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM inbox WHERE state = 'pending'").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 1
    finally:
        conn.close()


async def settled(db: Path | None) -> None:
    """Until every delivery stored is applied (read from the bot's database, read-only: the bot spends nothing)."""
    if db is None:
        return
    left = await asyncio.to_thread(pending, db)
    while left:
        await asyncio.sleep(0.02)
        left = await asyncio.to_thread(pending, db)


def bodies(first: int, count: int, kind: str) -> list[bytes]:
    return [json.dumps(incident_event(kind, incident_id=f"QDLV{n:06d}", number=n, event_id=f"{kind}-{n}"))
            .encode() for n in range(first, first + count)]


async def send(session: aiohttp.ClientSession, url: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Webhook-Id": uuid.uuid4().hex,
               "X-PagerDuty-Signature": "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        assert response.status == 202, response.status


async def run(url: str, pid: int, db: Path | None, incidents: int, batch: int, together: bool) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async def rounds(first: int, count: int) -> None:
            for start in range(first, first + count, batch):
                size = min(batch, first + count - start)
                for kind in ("incident.triggered", "incident.acknowledged", "incident.resolved"):
                    if together:
                        await asyncio.gather(*(send(session, url, body) for body in bodies(start, size, kind)))
                    else:  # one after the other, as the soak's emulator sends them (each answered first)
                        for body in bodies(start, size, kind):
                            await send(session, url, body)
                    await settled(db)
        await rounds(0, batch)  # warm-up: imports, caches, the first incidents
        before, threads_before, started = cpu_seconds(pid), cpu_by_thread(pid), time.perf_counter()
        await rounds(batch, incidents)
        wall = time.perf_counter() - started
        cpu, threads = cpu_seconds(pid) - before, cpu_by_thread(pid)
    deliveries = incidents * 3
    return {"deliveries": deliveries, "cpu_ms_per_delivery": round(cpu * 1000 / deliveries, 3),
            "wall_s": round(wall, 2),
            "by_thread_ms_per_delivery": {role: round((threads[role] - threads_before[role]) * 1000 / deliveries, 3)
                                          for role in threads}}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--together", action="store_true",
                        help="send each step of a batch at once (default: one after the other)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bot_db, ref_db = Path(tmp) / "bot.db", Path(tmp) / "ref.db"
        bot, bot_port, _ = start_server(BOT, str(bot_db), env={"LOG_LEVEL": "ERROR"})
        try:
            measured = await run(f"http://127.0.0.1:{bot_port}/pagerduty/webhook", bot.pid, bot_db, args.incidents,
                                 args.batch, args.together)
            stored = sqlite3.connect(bot_db)
            applied = stored.execute("SELECT count(*) FROM inbox WHERE state='applied'").fetchone()[0]
            # The effects each delivery queued, by kind (what the dispatcher performs after it: not measured here).
            effects = {kind: round(count / applied, 3) for kind, count in stored.execute(
                "SELECT kind, count(*) FROM outbox GROUP BY kind ORDER BY 2 DESC")}
            stored.close()
        finally:
            bot.terminate()
            bot.wait()
        reference, ref_port, _ = start_server(REFERENCE, str(ref_db))
        try:
            ref = await run(f"http://127.0.0.1:{ref_port}/pagerduty/webhook", reference.pid, None, args.incidents,
                            args.batch, args.together)
        finally:
            reference.terminate()
            reference.wait()
    emit("delivery_cpu", {"incidents": args.incidents, "batch": args.batch, "together": args.together, "bot": measured,
                          "applied": applied, "effects_per_delivery": effects, "reference": ref,
                          "cpu_ms_per_delivery": measured["cpu_ms_per_delivery"],
                          "reference_cpu_ms_per_delivery": ref["cpu_ms_per_delivery"],
                          "cpu_over_reference": round(measured["cpu_ms_per_delivery"]
                                                      / ref["cpu_ms_per_delivery"], 2)})


if __name__ == "__main__":
    asyncio.run(main())
