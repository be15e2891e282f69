"""App Homes with the applier in a process of its own (PAVEDROAD_APPLIER=process), as real processes: the emulators
and `pavedroad serve`. The web process opens the channel (its dispatcher) and publishes the Homes that link it; the
applier process applies the acknowledgement and publishes the Homes it makes stale with its own publisher (the
decision's Homes are asked of whoever stores it, bot/services/worker.py `settle`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.process_helpers import http, wait_for
from tests.e2e.test_crash_restart import Processes, settled


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    processes.env["PAVEDROAD_APPLIER"] = "process"
    yield processes
    processes.stop()


def homes_of(state: dict[str, Any], incident: dict[str, Any]) -> list[str]:
    """The Home views (as text) of the incident's assignees who are in Slack."""
    emails = {u["id"]: u["email"] for u in state["pagerduty"]["users"]}
    slack_ids = {u["email"]: u["id"] for u in state["slack"]["users"]}
    views = state["slack"]["home_views"]
    return [str(views.get(slack_ids[emails[a]], {}).get("blocks")) for a in incident["assignees"]
            if emails[a] in slack_ids]


def test_the_applier_process_publishes_the_homes_of_what_it_applies(world: Processes) -> None:
    world.start_bot()
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
