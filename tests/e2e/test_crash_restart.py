"""Kill the bot (SIGKILL, a real subprocess) in the middle of opening incident channels, restart it, and check
that nothing was lost and nothing was done twice; and between a 📌 and Slack giving the marked message back. The
emulators run in their own process, as the world would. Each case runs on both stores: SQLite, and PostgreSQL (a
database of the test's own on the session's cluster)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.catalogue import example_catalogue_path
from tests.e2e.process_helpers import free_port, http, wait_for
from tests.pg_cluster import PostgresCluster

ENV = {
    "SLACK_BOT_TOKEN": "xoxb-crash-test", "SLACK_SIGNING_SECRET": "crash-signing",
    "PAGERDUTY_API_TOKEN": "crash-token", "PAGERDUTY_WEBHOOK_SECRETS": "crash-webhook-secret",
    "CATALOGUE_PATH": str(example_catalogue_path()), "LOG_LEVEL": "WARNING",
}


class Processes:
    def __init__(self, tmp: Path, database_url: str | None = None) -> None:
        self.tmp = tmp
        self.emulator_port, self.bot_port = free_port(), free_port()
        self.emulators_url = f"http://127.0.0.1:{self.emulator_port}"
        self.bot_url = f"http://127.0.0.1:{self.bot_port}"
        self.env = {**os.environ, **ENV, "SLACK_API_URL": f"{self.emulators_url}/sandbox/slack/api/",
                    "PAGERDUTY_API_URL": f"{self.emulators_url}/sandbox/pagerduty/api",
                    "PAVEDROAD_DATABASE_URL": database_url or ""}
        self.bot: subprocess.Popen[bytes] | None = None
        with open(tmp / "emulators.log", "wb") as log:
            self.emulators = subprocess.Popen(
                [sys.executable, "-m", "bot.app.cli.main", "emulators", "--port", str(self.emulator_port), "--bot-url",
                 self.bot_url], env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(lambda: http("GET", f"{self.emulators_url}/sandbox/state") is not None, 60, "the emulators")

    def start_bot(self) -> None:
        with open(self.tmp / "bot.log", "ab") as log:
            self.bot = subprocess.Popen(
                [sys.executable, "-m", "bot.app.cli.main", "serve", "--port", str(self.bot_port), "--db",
                 str(self.tmp / "b.db")], env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(lambda: http("GET", f"{self.bot_url}/healthz")["status"] == "ok", 30, "the bot")

    def kill_bot(self) -> None:
        assert self.bot is not None
        self.bot.send_signal(signal.SIGKILL)
        self.bot.wait()

    def stop(self) -> None:
        for process in (self.bot, self.emulators):
            if process and process.poll() is None:
                process.terminate()
                process.wait(10)


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Processes]:
    database_url = None
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        database_url = cluster.url(cluster.fresh_database())
    processes = Processes(tmp_path, database_url)
    yield processes
    processes.stop()


def settled(bot_url: str) -> bool:
    report = http("GET", f"{bot_url}/readyz")
    return bool(report["inbox_pending"] == 0 and report["outbox_pending"] == 0)


@pytest.mark.parametrize("kill_after", [0.15, 0.6, 1.2])
def test_kill_mid_flight_then_restart_loses_nothing_and_repeats_nothing(world: Processes,
                                                                          kill_after: float) -> None:
    world.start_bot()
    # Slow Slack down so that the kill lands while channels, cards and pins are half made.
    http("POST", f"{world.emulators_url}/sandbox/faults", {"service": "slack", "latency_ms": 250})
    titles = ["Basket is empty", "Payments declined", "Delivery slots missing"]
    for title, service in zip(titles, ["PBASKET", "PCHECKO", "PDELIVS"], strict=True):
        http("POST", f"{world.emulators_url}/sandbox/pagerduty/incidents", {"title": title, "service_id": service})
    wait_for(lambda: all(d["status"] == "delivered" or d.get("status_code") in (200, 202)
                         for d in http("GET", f"{world.emulators_url}/sandbox/state")["pagerduty"]
                         ["webhook_deliveries"]), 10, "webhook deliveries")
    time.sleep(kill_after)
    before = http("GET", f"{world.bot_url}/readyz")
    world.kill_bot()
    # The kill must land mid-flight, or this test proves nothing.
    assert before["inbox_pending"] + before["outbox_pending"] > 0, before
    world.start_bot()
    wait_for(lambda: settled(world.bot_url), 60, "the restarted bot to finish")

    state = http("GET", f"{world.emulators_url}/sandbox/state")
    channels = [c for c in state["slack"]["channels"] if c["name"].startswith("inc-")]
    assert sorted(c["name"] for c in channels) == ["inc-1-basket-is-empty", "inc-2-payments-declined",
                                                     "inc-3-delivery-slots-missing"]
    for channel in channels:
        posted = [m for m in state["slack"]["messages"] if m["channel"] == channel["id"]]
        cards = [m for m in posted if m["blocks"]]
        assert len(cards) == 1 and channel["pins"] == [cards[0]["ts"]], channel["name"]
        assert channel["topic"].startswith("🔴 Triggered")
        repeated = [text for text, n in Counter(m["text"] for m in posted).items() if n > 1]
        assert repeated == [], repeated
    announcements = [m for m in state["slack"]["messages"] if "join <#" in m["text"]]
    assert len(announcements) == 3
    assert http("GET", f"{world.bot_url}/readyz")["dead_effects"] == []


def test_a_message_marked_before_a_kill_is_read_after_the_restart_and_joins_once(world: Processes) -> None:
    # Killed between a 📌 and Slack giving the message back (429s: an outage, everyone scrolling): the mark is in
    # the store, its read in the outbox, and the restarted bot reads the message onto the timeline, once.
    world.start_bot()
    emulators = world.emulators_url
    http("POST", f"{emulators}/sandbox/pagerduty/incidents", {"title": "Basket is empty", "service_id": "PBASKET"})
    channel = "inc-1-basket-is-empty"
    wait_for(lambda: settled(world.bot_url) and any(c["name"] == channel for c in http(
        "GET", f"{emulators}/sandbox/state")["slack"]["channels"]), 30, "the incident's channel")
    said = "Rolled back 4.2.1: the basket fills again"
    posted = http("POST", f"{emulators}/sandbox/slack/message",
                  {"user": "ben.okafor@example.com", "channel": channel, "text": said})
    http("POST", f"{emulators}/sandbox/faults",
         {"service": "slack", "method": "conversations.history", "status": 429, "times": 1000, "retry_after": 2})
    http("POST", f"{emulators}/sandbox/slack/reaction",
         {"user": "asha.patel@example.com", "channel": channel, "ts": posted["ts"], "name": "pushpin"})

    def refused_and_waiting() -> bool:
        with urllib.request.urlopen(f"{world.bot_url}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        return 'pavedroad_effects_total{kind="read_key_message",outcome="rate_limited"}' in metrics
    wait_for(refused_and_waiting, 30, "Slack to refuse the read and the bot to plan another")
    world.kill_bot()
    http("DELETE", f"{emulators}/sandbox/faults")
    world.start_bot()
    wait_for(lambda: settled(world.bot_url), 60, "the restarted bot to read the message")

    answer = http("POST", f"{emulators}/sandbox/slack/command",
                  {"user": "asha.patel@example.com", "channel": channel, "text": "timeline"})
    body = answer.get("body")
    told = "\n".join(([str(body.get("text") or "")] if isinstance(body, dict) else [])
                     + [str(p.get("text") or "") for p in answer["response_url_posts"]])
    assert told.count(f"📌 Ben Okafor: {said}") == 1, told
    assert http("GET", f"{world.bot_url}/readyz")["dead_effects"] == []
