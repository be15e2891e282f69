"""App Homes with the applier in a process of its own (PAVEDROAD_APPLIER=process), as real processes: the emulators
and `pavedroad serve`. The web process opens the channel (its dispatcher) and publishes the Homes that link it; the
applier process applies the acknowledgement and publishes the Homes it makes stale with its own publisher (the
decision's Homes are asked of whoever stores it, bot/services/worker.py `settle`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.catalogue import example_catalogue_path
from tests.e2e.process_helpers import free_port, http, wait_for


class Processes:
    """The emulators and one `pavedroad serve` with PAVEDROAD_APPLIER=process, each a process of its own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        emulator_port, bot_port = free_port(), free_port()
        self.emulators_url, self.bot_url = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{bot_port}"
        self.env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-home-test", "SLACK_SIGNING_SECRET": "home-signing",
                    "PAGERDUTY_API_TOKEN": "home-token", "PAGERDUTY_WEBHOOK_SECRETS": "home-webhook-secret",
                    "CATALOGUE_PATH": str(example_catalogue_path()), "LOG_LEVEL": "WARNING",
                    "SLACK_API_URL": f"{self.emulators_url}/sandbox/slack/api/",
                    "PAGERDUTY_API_URL": f"{self.emulators_url}/sandbox/pagerduty/api", "PAVEDROAD_DATABASE_URL": "",
                    "PAVEDROAD_APPLIER": "process"}
        with open(tmp / "emulators.log", "wb") as log:
            self.emulators = subprocess.Popen(
                [sys.executable, "-m", "bot.app.cli.main", "emulators", "--port", str(emulator_port), "--bot-url",
                 self.bot_url], env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(lambda: http("GET", f"{self.emulators_url}/sandbox/state") is not None, 60, "the emulators")
        with open(tmp / "bot.log", "wb") as log:
            self.bot = subprocess.Popen(
                [sys.executable, "-m", "bot.app.cli.main", "serve", "--port", str(bot_port), "--db",
                 str(tmp / "b.db")], env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(lambda: http("GET", f"{self.bot_url}/healthz")["status"] == "ok", 60, "the bot")

    def stop(self) -> None:
        for process in (self.bot, self.emulators):
            if process.poll() is None:
                process.terminate()
                process.wait(10)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    yield processes
    processes.stop()


def settled(bot_url: str) -> bool:
    report = http("GET", f"{bot_url}/readyz")
    return bool(report["inbox_pending"] == 0 and report["outbox_pending"] == 0)


def homes_of(state: dict[str, Any], incident: dict[str, Any]) -> list[str]:
    """The Home views (as text) of the incident's assignees who are in Slack."""
    emails = {u["id"]: u["email"] for u in state["pagerduty"]["users"]}
    slack_ids = {u["email"]: u["id"] for u in state["slack"]["users"]}
    views = state["slack"]["home_views"]
    return [str(views.get(slack_ids[emails[a]], {}).get("blocks")) for a in incident["assignees"]
            if emails[a] in slack_ids]


def test_the_applier_process_publishes_the_homes_of_what_it_applies(world: Processes) -> None:
    created = http("POST", f"{world.emulators_url}/sandbox/pagerduty/incidents",
                   {"title": "Card payments failing", "service_id": "PCHECKO"})
    incident_id = created["incident"]["id"]

    def state() -> dict[str, Any]:
        found: dict[str, Any] = http("GET", f"{world.emulators_url}/sandbox/state")
        return found

    def incident() -> dict[str, Any]:
        return next(i for i in state()["pagerduty"]["incidents"] if i["id"] == incident_id)
    wait_for(lambda: settled(world.bot_url) and bool(homes_of(state(), incident())), 60, "the channel's opening")
    [channel] = [c for c in state()["slack"]["channels"] if c["name"].startswith("inc-")]
    # Opened by the web process's dispatcher: the assignees' Homes link the channel.
    wait_for(lambda: all(f"<#{channel['id']}>" in home for home in homes_of(state(), incident())), 30,
             "the Homes linking the channel")
    http("POST", f"{world.emulators_url}/sandbox/pagerduty/incidents/{incident_id}/acknowledge", {})
    # Applied in the applier process, whose publisher refreshes the same Homes: acknowledged (🟠) now.
    wait_for(lambda: all("🟠" in home for home in homes_of(state(), incident())), 30, "the acknowledged Homes")
