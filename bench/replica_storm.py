"""A storm of incidents on one replica or several sharing one store: time until every card is pinned, which replica
did the work, and how much of Slack's rate budget was used (calls per method, and how many Slack refused with 429).

Replicas here are Bots in one process on one store, each with its own worker, dispatcher and scheduler: one SQLite
file (WAL) with `--store sqlite`, or with `--store postgres` one fresh database on a throwaway cluster the benchmark
starts (tests/pg_cluster.py, PostgreSQL's durable defaults);
the sandbox delivers the webhooks to the first, and the shared inbox and outbox spread the work. Slack's limits are
the emulator's, at `--rate-scale` times Slack's published tiers, and the bots pace themselves to the same scale from
the one budget in the store: with the budget shared, a second replica must not add 429s. Prints JSON.

    python bench/replica_storm.py [--incidents 200] [--replicas 2] [--rate-scale 10] [--latency-ms 50]
                                  [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit, summary
from bench.lock_waits import LockWaits
from bot.app.runtime import Bot
from bot.catalogue import Catalogue, example_catalogue_path, load_catalogue
from sandbox.world import Sandbox, serve_sandbox

SERVICES = ("PBASKET", "PCHECKO", "PDELIVS", "PREFUND", "PELECTR", "PFASHIO", "PWAREHS", "PSEARCH")


def counted(bot: Bot, name: str, outcome_label: str, outcome: str) -> float:
    """The sum of a counter's samples with this outcome (over every other label)."""
    total = 0.0
    for family in bot.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get(outcome_label) == outcome:
                total += sample.value
    return total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rate-scale", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    catalogue = load_catalogue(example_catalogue_path())
    cluster = None
    if args.store == "postgres":
        from tests.pg_cluster import PostgresCluster

        cluster = PostgresCluster(durable=True)  # fsync on, synchronous_commit = on: PostgreSQL's defaults
        cluster.start()
        cluster.prepare()
        database_url = cluster.url(cluster.fresh_database())
        # The sandbox builds its bot's settings for a SQLite file; the benchmark points them (and so every
        # replica, which shares them) at the PostgreSQL database instead.
        sqlite_settings = Sandbox.bot_settings
        Sandbox.bot_settings = lambda self, *a, **k: replace(  # type: ignore[method-assign]
            sqlite_settings(self, *a, **k), database_url=database_url)
    lock_waits = LockWaits(database_url).start() if cluster is not None else None
    outcomes = timed_outcomes() if cluster is not None else None
    try:
        await storm(args, catalogue, lock_waits, outcomes)
    finally:
        if cluster is not None:
            cluster.destroy()


def timed_outcomes() -> dict[str, list[float]]:
    """Time every effect outcome the PostgreSQL outbox records, split by whether it takes QUEUES_LOCK (an outcome
    whose bookkeeping writes other queues: outbox.py, "Lock order") or not: seconds, per kind of outcome."""
    from bot.adapters.store.postgres.outbox import PostgresOutbox

    times: dict[str, list[float]] = {}

    def timing(name: str) -> None:
        method = getattr(PostgresOutbox, name)

        async def timed(self: PostgresOutbox, *args: Any, **kwargs: Any) -> Any:
            kept, alert = kwargs.get("bookkeeping"), kwargs.get("alert", args[2] if name == "effect_dead" else None)
            locks = alert is not None or (kept is not None and (
                bool(kept.follow_ups) or kept.card_refreshes if name == "effect_done"
                else kept.refresh_card_once_synced is not None))
            started = time.perf_counter()
            try:
                return await method(self, *args, **kwargs)
            finally:
                times.setdefault(f"{name}{'_locking' if locks else ''}", []).append(time.perf_counter() - started)
        setattr(PostgresOutbox, name, timed)
    for name in ("effect_done", "effect_retry", "effect_dead"):
        timing(name)
    return times


async def storm(args: argparse.Namespace, catalogue: Catalogue, lock_waits: LockWaits | None = None,
                outcomes: dict[str, list[float]] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        running = await serve_sandbox(catalogue, Path(tmp) / "storm.db", port=0, rate_limit_scale=args.rate_scale)
        others = [Bot(running.bot.settings, catalogue, clock=running.bot.clock, replica_id=f"replica-{n}")
                  for n in range(2, args.replicas + 1)]
        for bot in others:
            await bot.start()
        bots = [running.bot, *others]
        try:
            running.sandbox.faults.latency_ms["slack"] = args.latency_ms
            started = time.perf_counter()
            for i in range(args.incidents):
                await running.sandbox.pagerduty.trigger(title=f"Storm {i}", service_id=SERVICES[i % len(SERVICES)])
            while True:
                channels = [c for c in running.sandbox.slack.channels.values() if c.name.startswith("inc-")]
                if len(channels) == args.incidents and all(c.pins for c in channels):
                    break
                await asyncio.sleep(0.05)
            pinned_s = time.perf_counter() - started
            calls = dict(running.sandbox.slack.calls)
        finally:
            for bot in others:
                await bot.stop()
            await running.stop()
    figures = {} if lock_waits is None or outcomes is None else {
        "queues_lock_waits": lock_waits.stop(),
        "outcome_latency": {name: summary(times) for name, times in sorted(outcomes.items())}}
    emit("replica_storm", {**figures,
        "store": args.store, "incidents": args.incidents, "replicas": args.replicas, "rate_scale": args.rate_scale,
        "injected_slack_latency_ms": args.latency_ms, "all_cards_pinned_s": round(pinned_s, 1),
        "effects_done_per_replica": [int(counted(b, "pavedroad_effects_total", "outcome", "done")) for b in bots],
        "slack_429s": int(sum(counted(b, "pavedroad_outside_calls_total", "outcome", "ratelimited") for b in bots)),
        "slack_calls": calls,
        "tier2_per_minute_budget": 20 * args.rate_scale,
        "tier2_calls_per_minute": {m: round(calls.get(m, 0) / pinned_s * 60, 1)
                                   for m in ("conversations.create", "conversations.setTopic", "pins.add")},
    })


if __name__ == "__main__":
    asyncio.run(main())
