"""The operators' alert that a new ticket is in no team's queue is claimed once a day per service (whoever tells it,
later tickets of the service are not told again) and queued, in one transaction. The store failing on it — before
it wrote anything (a locked database), or after it committed with its answer lost — must lead to the alert told once:
never to the claim saying it was told while no alert was ever queued, nor to the retry queueing it again. Run on the
real SQLite store, that write failing once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.store import SqliteStore
from bot.app import runtime
from bot.domain.effects import Effect
from bot.ports.store import Store
from tests.e2e.sandbox_helpers import deliver, messages, state
from tests.e2e.servicenow_helpers import settle_all, ticket_for
from tests.helpers import StartSandbox, incident_event

NO_GROUP_KEY = "servicenow:no-group:"


class FailsOnce(SqliteStore):
    """The bot's real store, whose claim-and-queue of the no-group alert fails once: `failing` is "before" (nothing
    written: a locked database) or "after" (committed, its answer lost as a cut connection loses it)."""

    def __init__(self, path: Path, failing: str) -> None:
        super().__init__(path)
        self.failing, self.failed = failing, 0

    async def first_time_then_queue(self, key: str, window_seconds: float, now: float, effect: Effect,
                                    priority: int = 1) -> bool:
        failing = not self.failed and key.startswith(NO_GROUP_KEY)
        if failing and self.failing == "before":
            self.failed += 1
            raise sqlite3.OperationalError("database is locked")
        claimed = await super().first_time_then_queue(key, window_seconds, now, effect, priority)
        if failing:
            self.failed += 1
            raise sqlite3.OperationalError("disk I/O error")
        return claimed


@pytest.mark.parametrize("failing", ["before", "after"])
async def test_the_no_group_alert_is_told_once_though_the_store_failed_on_its_claim(
        start_sandbox: StartSandbox, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """The claim ("told today") was written, the alert's write failed: the ticket's effect was retried, found its
    ticket made, and nobody ever heard that it sat in no team's queue."""
    stores: list[FailsOnce] = []

    def build_store(database_url: str | None, db_path: Path) -> Store:
        stores.append(FailsOnce(db_path, failing))
        return stores[-1]

    monkeypatch.setattr(runtime, "build_store", build_store)
    running = await start_sandbox()
    event = incident_event("incident.triggered", incident_id="QUNKNOWN1", number=41, title="API latency")
    assert await deliver(running, event) == 202
    await settle_all(running, rounds=6)
    assert [store.failed for store in stores] == [1]
    ticket = ticket_for(running, "QUNKNOWN1")
    assert ticket["assignment_group"] == ""
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    alerts = [m["text"] for m in messages(running, ops["id"]) if "no assignment group" in m["text"]]
    assert len(alerts) == 1 and ticket["number"] in alerts[0], alerts
    assert len([t for t in state(running)["servicenow"]["incidents"] if t["correlation_id"] == "QUNKNOWN1"]) == 1
