"""Status update → everywhere, in the sandbox, with latency injected into every Slack call: from `/incident update`
sent (as Slack sends it) until the update is in the incident channel, the stakeholders' channel, PagerDuty's status
updates and the ServiceNow ticket's comments.

The floor is the chain of Slack calls that cannot overlap: the update in the incident channel, then the
stakeholders' post (one Slack queue per incident, in order), i.e. 2 x the injected latency; PagerDuty's and
ServiceNow's copies go out on their own queues meanwhile. Reported as a ratio to that floor. Prints JSON.

    python bench/status_update_fanout.py [--updates 30] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit, summary
from bot.catalogue import example_catalogue_path, load_catalogue
from sandbox.world import RunningSandbox, serve_sandbox

ERIN = "erin.walsh@example.com"


def everywhere(running: RunningSandbox, incident_id: str, text: str) -> bool:
    """Read straight from the emulators (not /sandbox/state, whose snapshot of everything would cost more than the
    bot's own work at this polling rate)."""
    channels = {c.id for c in running.sandbox.slack.channels.values()
                if any(text in m.text for m in list(c.messages.values())[-5:])}
    in_pagerduty = any(u.incident_id == incident_id and text in u.message
                       for u in running.sandbox.pagerduty.status_updates.status_updates)
    on_ticket = any(e.element == "comments" and text in e.value for e in running.sandbox.servicenow.journal)
    return len(channels) >= 2 and in_pagerduty and on_ticket


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    catalogue = load_catalogue(example_catalogue_path())
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Rate limits scaled up so that the benchmark measures our latency, not Slack's pacing.
        running = await serve_sandbox(catalogue, Path(tmp) / "bench.db", port=0, rate_limit_scale=100)
        try:
            incident = await running.sandbox.pagerduty.trigger(title="Bench incident", service_id="PBASKET")
            await running.sandbox.pagerduty.drain_webhooks()
            await running.bot.settle(30)
            channel = next(c.id for c in running.sandbox.slack.channels.values() if c.name.startswith("inc-1-"))
            running.sandbox.faults.latency_ms["slack"] = args.latency_ms
            async with aiohttp.ClientSession() as session:
                for i in range(args.updates):
                    text = f"Bench update {i}: rolling back"
                    started = time.perf_counter()
                    # The sandbox's command route answers once the interaction has gone quiet: not waited for here.
                    sent = asyncio.ensure_future(session.post(f"{running.url}/sandbox/slack/command", json={
                        "user": ERIN, "channel": channel, "text": f"update {text}"}))
                    while True:
                        if everywhere(running, str(incident["id"]), text):
                            break
                        await asyncio.sleep(0.001)
                    latencies.append(time.perf_counter() - started)
                    response = await sent
                    assert response.status == 200, await response.text()
                    response.release()
                    await running.bot.settle(30)  # one update at a time: latency, not queueing
        finally:
            await running.stop()
    floor_ms = 2 * args.latency_ms
    result = summary(latencies)
    emit("status_update_everywhere", {
        "injected_slack_latency_ms": args.latency_ms, "sequential_floor_ms": floor_ms, "latency": result,
        "p50_over_floor": round(result["p50_ms"] / floor_ms, 2),
        "p99_over_floor": round(result["p99_ms"] / floor_ms, 2),
    })


if __name__ == "__main__":
    asyncio.run(main())
