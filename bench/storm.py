"""Storm: N incidents triggered at once (every other one high urgency), with Slack paced at its real tiers times
K (`--tier-scale`; the emulators enforce the same scaled limits). Measures when every incident's card is pinned
beside the Tier-2 floor at that scale (conversations.create and pins.add are Tier 2, 20 a minute, and the bot
saves up at most three seconds of its budget: N incidents cannot all be pinned before (N - max(1, K)) x 60 / (20 K)
seconds, 597 s for 200 at K = 1), the median time to a pinned card for high and for low urgency incidents, the
deepest backlog of card refreshes waiting meanwhile (and the most waiting for one card: refreshes are coalesced, so
at most one), how long after the last pin the refreshes were all done (they yield to new incidents' channels), and
when the last ServiceNow ticket was made (ServiceNow has no such pacing: its effects have their own slots). Runs the
sandbox in this process (`serve_sandbox`, as bench/trigger_to_card.py); the figures are read from the bot's database
(read-only) and the emulators' state. Prints JSON.

    python bench/storm.py [--incidents 200] [--tier-scale 1] [--watch-after-s 0]

At scale 1 a storm of 200 takes about ten minutes (the floor is 597 s); --tier-scale 10 takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import emit
from bot.catalogue import example_catalogue_path, load_catalogue
from sandbox.world import serve_sandbox

TIER_2_PER_MINUTE = 20
BOT_BURST_S = 3.0  # bot/adapters/slack/ratelimit.py: a bucket holds three seconds of its rate


def read_progress(db: Path) -> tuple[set[str], int, int, float | None]:
    """(incidents whose card is pinned, card refreshes waiting, the most waiting for one card, when the oldest
    waiting refresh was queued (epoch seconds, the bot's clock: the sandbox's runs at wall time)) from the bot's
    database."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        pinned = {row[0] for row in conn.execute("SELECT incident_id FROM incident_slack WHERE card_pinned = 1")}
        backlog, per_card, oldest = conn.execute(
            "SELECT coalesce(sum(n), 0), coalesce(max(n), 0), min(queued) FROM (SELECT count(*) AS n,"
            " min(created_at) AS queued FROM outbox WHERE state = 'pending' AND kind = 'refresh_card'"
            " GROUP BY incident_id)").fetchone()
        return pinned, int(backlog), int(per_card), oldest
    except sqlite3.OperationalError:
        return set(), 0, 0, None
    finally:
        conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--tier-scale", type=float, default=1.0)
    parser.add_argument("--poll-s", type=float, default=0.25)
    parser.add_argument("--watch-after-s", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    catalogue = load_catalogue(example_catalogue_path())
    services = [s.pagerduty_service_id for s in catalogue.services]
    rate = TIER_2_PER_MINUTE * args.tier_scale / 60  # calls a second
    floor_s = max(0.0, args.incidents - max(1.0, rate * BOT_BURST_S)) / rate
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "storm.db"
        running = await serve_sandbox(catalogue, db, port=0, rate_limit_scale=args.tier_scale)
        try:
            pagerduty, servicenow = running.sandbox.pagerduty, running.sandbox.servicenow
            urgency: dict[str, str] = {}
            started = time.monotonic()
            for i in range(args.incidents):
                incident = await pagerduty.trigger(title=f"Storm incident {i}", service_id=services[i % len(services)],
                                                   urgency="high" if i % 2 == 0 else "low")
                urgency[str(incident["id"])] = "high" if i % 2 == 0 else "low"
            triggered_s = time.monotonic() - started
            pinned_at: dict[str, float] = {}
            backlog_max, backlog_when_pinned, backlog, tickets_done_s, per_card_max = 0, None, 0, None, 0
            drained_s: float | None = None
            wait_after_pinned, after_drained_max = 0.0, 0
            deadline = started + floor_s * 3 + 120
            while time.monotonic() < deadline:
                await asyncio.sleep(args.poll_s)
                now = time.monotonic() - started
                pinned, backlog, per_card, oldest = await asyncio.to_thread(read_progress, db)
                per_card_max = max(per_card_max, per_card)
                for incident_id in pinned & urgency.keys():
                    pinned_at.setdefault(incident_id, now)
                backlog_max = max(backlog_max, backlog)
                if tickets_done_s is None and len(servicenow.tables["incident"]) >= args.incidents:
                    tickets_done_s = now
                if len(pinned_at) == len(urgency):
                    if oldest is not None:
                        wait_after_pinned = max(wait_after_pinned, time.time() - oldest)
                    backlog_when_pinned = backlog if backlog_when_pinned is None else backlog_when_pinned
                    if drained_s is None and backlog == 0 and tickets_done_s is not None:
                        drained_s = now
                        # --watch-after-s: go on watching the open cards' scheduled refreshes for that long.
                        deadline = time.monotonic() + args.watch_after_s
                    if drained_s is not None:
                        after_drained_max = max(after_drained_max, backlog)
                        if time.monotonic() >= deadline:
                            break
        finally:
            await running.stop()

    def median(kind: str) -> float | None:
        times = [t for i, t in pinned_at.items() if urgency[i] == kind]
        return round(statistics.median(times), 1) if times else None
    all_pinned = max(pinned_at.values()) if len(pinned_at) == len(urgency) else None
    emit("storm", {
        "incidents": args.incidents, "tier_scale": args.tier_scale, "triggered_s": round(triggered_s, 2),
        "all_pinned_s": round(all_pinned, 1) if all_pinned is not None else None,
        "pinned": len(pinned_at), "floor_s": round(floor_s, 1),
        "over_floor": round(all_pinned / floor_s, 3) if all_pinned is not None and floor_s else None,
        "high_median_s": median("high"), "low_median_s": median("low"),
        "refresh_backlog_max": backlog_max, "refresh_backlog_when_all_pinned": backlog_when_pinned,
        # Refreshes are coalesced (at most one waits per card) and yield to new incidents' channels and pins.
        "refreshes_waiting_per_card_max": per_card_max,
        # Once the storm's cards are all pinned, the longest any refresh had been waiting: the scheduled ones are
        # queued at most a minute's chat.update budget at a time, so Slack carries each batch within the minute.
        "refresh_wait_max_after_all_pinned_s": round(wait_after_pinned, 1),
        "refreshes_drained_after_all_pinned_s": round(drained_s - all_pinned, 1)
        if drained_s is not None and all_pinned is not None else None,
        # None: card refreshes were still waiting when the bench gave up (3 x the floor + 2 minutes).
        "refreshes_drained_s": round(drained_s, 1) if drained_s is not None else None,
        # With --watch-after-s: the most refreshes waiting after the first drain (the minute jobs' batches).
        "watched_after_drained_s": args.watch_after_s, "refresh_backlog_max_after_drained": after_drained_max,
        "refresh_backlog_at_end": backlog, "watched_s": round(time.monotonic() - started, 1),
        "last_ticket_s": round(tickets_done_s, 1) if tickets_done_s is not None else None,
        "targets": {"over_floor_max": 1.05, "refresh_backlog_max": 0},
    })


if __name__ == "__main__":
    asyncio.run(main())
