"""Trigger → card pinned latency in the sandbox, with latency injected into every Slack call.

The floor is the chain of Slack calls that cannot overlap: conversations.create → chat.postMessage (the card) →
pins.add, i.e. 3 x the injected latency. Everything else (topic, invites, the responder lookups, the announcement)
should overlap with that chain. Target: p99 ≤ 1.3 x the floor. Prints JSON.

    python bench/trigger_to_card.py [--incidents 40] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit, summary
from bot.catalogue import example_catalogue_path, load_catalogue
from bot.domain.naming import channel_name
from sandbox.world import serve_sandbox


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    catalogue = load_catalogue(example_catalogue_path())
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Rate limits scaled up so that the benchmark measures our latency, not Slack's pacing.
        running = await serve_sandbox(catalogue, Path(tmp) / "bench.db", port=0, rate_limit_scale=100)
        try:
            running.sandbox.faults.latency_ms["slack"] = args.latency_ms
            for i in range(args.incidents):
                title = f"Bench incident {i}"
                started = time.perf_counter()
                incident = await running.sandbox.pagerduty.trigger(title=title, service_id="PBASKET")
                name = channel_name(catalogue.channels.pattern, number=int(incident["incident_number"]),
                                    title=title, service="", incident_id=str(incident["id"]))
                while True:
                    channel = running.sandbox.slack.find_channel(name)
                    if channel is not None and channel.pins:
                        break
                    await asyncio.sleep(0.001)
                latencies.append(time.perf_counter() - started)
                await running.bot.settle(30)  # one incident at a time: latency, not queueing
        finally:
            await running.stop()
    floor_ms = 3 * args.latency_ms
    result = summary(latencies)
    emit("trigger_to_card_pinned", {
        "injected_slack_latency_ms": args.latency_ms, "sequential_floor_ms": floor_ms, "latency": result,
        "p99_over_floor": round(result["p99_ms"] / floor_ms, 2), "targets": {"p99_over_floor_max": 1.3},
    })


if __name__ == "__main__":
    asyncio.run(main())
