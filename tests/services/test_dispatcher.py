"""The outbox dispatcher's retry policy, against the real store and an executor that fails as told.

The executor here is a stand-in for the outside world (Slack down, rate limiting, a bug), not for the dispatcher:
what is under test is how the dispatcher schedules, retries, parks and reports.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.pagerduty.webhook import read_event
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import AlertOperators, Effect, OpenIncidentChannel
from bot.domain.incident import ChannelPolicy, apply_event
from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.services.dispatcher import OPERATORS_QUEUE, Dispatcher, RetryPolicy
from tests.helpers import incident_event


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


class World:
    """Fails the next calls as scripted, and records what was performed."""

    def __init__(self) -> None:
        self.script: list[BaseException] = []
        self.performed: list[tuple[str, bool]] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float) -> None:
        self.performed.append((effect.kind, retry))
        if self.script:
            raise self.script.pop(0)

    async def after_done(self, effect: Effect) -> None:
        self.performed.append((f"{effect.kind} done", False))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "d.db")
    await s.open()
    await s.record_delivery(source="pagerduty", delivery_id="d", event_id="e", event_type="incident.triggered",
                            incident_id="PGR0VU2", occurred_at="t", body="{}")
    await s.commit_decision(1, apply_event(None, read_event(incident_event("incident.triggered")), ChannelPolicy()),
                            now=1_000.0)
    yield s
    await s.close()


def dispatcher(store: SqliteStore, world: World, clock: Clock, attempts: int = 3) -> Dispatcher:
    d = Dispatcher(store, world, clock, Metrics(), RetryPolicy(max_attempts=attempts, base_seconds=2,  # type: ignore[arg-type]
                                                                max_seconds=60))
    d._rng = random.Random(7)
    return d


async def run_due(d: Dispatcher) -> None:
    await d.start_due()
    for task in list(d._busy.values()):
        await task


async def outbox(store: SqliteStore) -> list[dict[str, Any]]:
    return await store._run(lambda: store._query("SELECT kind, state, attempts, next_attempt_at, last_error "
                                                 "FROM outbox ORDER BY seq"))


async def test_retry_after_from_the_service_is_honoured(store: SqliteStore) -> None:
    world, clock = World(), Clock()
    world.script = [IntegrationError("slack", "ratelimited", retryable=True, code="ratelimited", retry_after=30)]
    d = dispatcher(store, world, clock)
    await run_due(d)
    first = (await outbox(store))[0]
    assert first["state"] == "pending" and first["attempts"] == 1
    assert 1_030 <= first["next_attempt_at"] <= 1_030.25
    clock.t = 1_029
    await run_due(d)
    assert world.performed == [("open_incident_channel", False)]  # not before Slack said
    clock.t = 1_031
    await run_due(d)
    assert world.performed[-2:] == [("open_incident_channel", True), ("open_incident_channel done", False)]
    assert (await outbox(store))[0]["state"] == "done"


async def test_backoff_grows_with_jitter_and_the_effect_dies_after_max_attempts(store: SqliteStore) -> None:
    world, clock = World(), Clock()
    world.script = [IntegrationError("slack", "boom", retryable=True, status=503)] * 3
    d = dispatcher(store, world, clock, attempts=3)
    delays = []
    for _ in range(3):
        await run_due(d)
        row = (await outbox(store))[0]
        delays.append(row["next_attempt_at"] - clock.t)
        clock.t = row["next_attempt_at"] + 0.001
    rows = await outbox(store)
    assert rows[0]["state"] == "dead" and rows[0]["attempts"] == 3 and "boom" in rows[0]["last_error"]
    assert 0 <= delays[0] <= 4 and 0 <= delays[1] <= 8  # full jitter under 2 * 2^attempt
    alert = [r for r in rows if r["kind"] == "alert_operators"]
    assert len(alert) == 1 and alert[0]["state"] == "pending"
    dead = await store.dead_effects()
    assert [(x["incident_id"], x["kind"]) for x in dead] == [("PGR0VU2", "open_incident_channel")]


async def test_a_non_retryable_error_is_dead_at_once_and_alerts_the_operators(store: SqliteStore) -> None:
    world, clock = World(), Clock()
    world.script = [IntegrationError("slack", "missing_scope", retryable=False, code="missing_scope")]
    d = dispatcher(store, world, clock)
    await run_due(d)
    rows = await outbox(store)
    assert rows[0]["state"] == "dead" and rows[0]["attempts"] == 1
    due = await store.due_effects(now=clock.t, limit=10, busy=[])
    alerts = [r.effect for r in due if isinstance(r.effect, AlertOperators)]
    assert len(alerts) == 1 and alerts[0].incident_id == OPERATORS_QUEUE
    assert "missing_scope" in alerts[0].text and "PGR0VU2" in alerts[0].text
    # The incident's next effect is not held up by the dead one.
    assert any(r.effect.incident_id == "PGR0VU2" and r.effect.kind == "post_timeline_entry" for r in due)


async def test_a_bug_is_retried_with_a_reference_and_logged(store: SqliteStore,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    world, clock = World(), Clock()
    world.script = [KeyError("oops")]
    d = dispatcher(store, world, clock)
    await run_due(d)
    row = (await outbox(store))[0]
    assert row["state"] == "pending" and "unexpected KeyError (reference " in row["last_error"]
    reference = row["last_error"].split("reference ")[1].rstrip(")")
    assert reference in caplog.text


async def test_an_alert_that_cannot_be_posted_does_not_alert_about_itself(store: SqliteStore) -> None:
    world, clock = World(), Clock()
    world.script = [IntegrationError("slack", "down", retryable=False)] * 2
    d = dispatcher(store, world, clock)
    await run_due(d)  # the channel dies, the alert is queued
    [entry] = [r for r in await store.due_effects(clock.t, 10, []) if r.effect.kind == "post_timeline_entry"]
    await store.effect_done(entry.seq)  # out of the way, so that only the alert runs next
    await run_due(d)  # the alert dies
    kinds = [r["kind"] for r in await outbox(store)]
    assert kinds.count("alert_operators") == 1
    assert OpenIncidentChannel("PGR0VU2").kind in kinds
