"""The outbox dispatcher's retry policy, against the real store and an executor that fails as told.

The executor here is a stand-in for the outside world (Slack down, rate limiting, a bug), not for the dispatcher:
what is under test is how the dispatcher schedules, retries, parks and reports.
"""

from __future__ import annotations

import gc
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import AlertOperators, Effect
from bot.domain.effects.slack import OpenIncidentChannel, PostTimelineEntry, ReadKeyMessage
from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack
from bot.services.dispatcher import Dispatcher, RetryPolicy
from tests.helpers import rows


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def frozen_clock() -> SettableClock:
    return SettableClock(at(1_000), frozen=True)  # the store's decision above was committed at 1_000


class World:
    """Fails the next calls as scripted, and records what was performed."""

    def __init__(self) -> None:
        self.script: list[BaseException] = []
        self.performed: list[tuple[str, bool]] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append((effect.kind, retry))
        if self.script:
            raise self.script.pop(0)

    async def after_done(self, effect: Effect) -> None:
        self.performed.append((f"{effect.kind} done", False))


def dispatcher(store: SqliteStore, world: World, clock: SettableClock, attempts: int = 3,
               metrics: Metrics | None = None) -> Dispatcher:
    return Dispatcher(store, world, clock, metrics or Metrics(), RetryPolicy(max_attempts=attempts, base_seconds=2,
                                                                             max_seconds=60), rng=random.Random(7))


def outcomes_counted(metrics: Metrics) -> dict[str, float]:
    """/metrics' effects counted, by outcome (every kind)."""
    family = next(f for f in text_string_to_metric_families(metrics.render().decode()) if f.name == "pavedroad_effects")
    return {s.labels["outcome"]: s.value for s in family.samples if s.name == "pavedroad_effects_total"}


async def run_due(d: Dispatcher) -> None:
    await d.start_due()
    await d.finish_in_flight()


def outbox(db_path: Path) -> list[dict[str, Any]]:
    return rows(db_path, "SELECT kind, state, attempts, next_attempt_at, last_error FROM outbox ORDER BY seq")


async def test_retry_after_from_the_service_is_honoured(store: SqliteStore, db_path: Path) -> None:
    world, clock = World(), frozen_clock()
    world.script = [IntegrationError("slack", "ratelimited", retryable=True, code="ratelimited", retry_after=30)]
    d = dispatcher(store, world, clock)
    await run_due(d)
    first = outbox(db_path)[0]
    assert first["state"] == "pending" and first["attempts"] == 1
    assert 1_030 <= first["next_attempt_at"] <= 1_030.25
    clock.set(at(1_029))
    await run_due(d)
    assert world.performed == [("open_incident_channel", False)]  # not before Slack said
    clock.set(at(1_031))
    await run_due(d)
    # (Its outcome claimed the incident's next effect, the timeline post, which then followed without a wake-up.)
    assert world.performed[1:3] == [("open_incident_channel", True), ("open_incident_channel done", False)]
    assert outbox(db_path)[0]["state"] == "done"


async def test_backoff_grows_with_jitter_and_the_effect_dies_after_max_attempts(store: SqliteStore,
                                                                                db_path: Path) -> None:
    world, clock = World(), frozen_clock()
    world.script = [IntegrationError("slack", "boom", retryable=True, status=503)] * 3
    d = dispatcher(store, world, clock, attempts=3)
    delays = []
    for _ in range(3):
        await run_due(d)
        row = outbox(db_path)[0]
        delays.append(row["next_attempt_at"] - clock.timestamp())
        clock.set(at(row["next_attempt_at"] + 0.001))
    effects = outbox(db_path)
    assert effects[0]["state"] == "dead" and effects[0]["attempts"] == 3 and "boom" in effects[0]["last_error"]
    assert 0 <= delays[0] <= 4 and 0 <= delays[1] <= 8  # full jitter under 2 * 2^attempt
    alert = [r for r in effects if r["kind"] == "alert_operators"]
    assert len(alert) == 1 and alert[0]["state"] == "pending"
    dead = await store.dead_effects()
    assert [(x["incident_id"], x["kind"]) for x in dead] == [("PGR0VU2", "open_incident_channel")]


async def test_an_effect_kinds_own_policy_outlasts_its_systems(store: SqliteStore, db_path: Path) -> None:
    # A key message's read is patient (it waits out a Slack outage) where Slack's other effects give up sooner: a
    # policy named for its kind wins over its system's. (An outage's 503s: refusals for rate limiting count for none.)
    while due := await store.due_effects(now=1_000.0, limit=10, busy=[]):  # the incident's own effects, out of the way
        for row in due:
            await store.effect_done(row.seq)
    await store.queue_effect(ReadKeyMessage("PGR0VU2", "C1", "1764237600.000100", "UASHA"), now=1_000.0)
    world, clock = World(), frozen_clock()
    world.script = [IntegrationError("slack", "service_unavailable", retryable=True, code="service_unavailable",
                                     status=503, retry_after=5)] * 3
    d = Dispatcher(store, world, clock, Metrics(), RetryPolicy(max_attempts=1),
                   policies={"slack": RetryPolicy(max_attempts=2), ReadKeyMessage.kind: RetryPolicy(max_attempts=4)},
                   rng=random.Random(7))
    for _ in range(4):
        await run_due(d)
        clock.advance(timedelta(seconds=6))
    [read] = [r for r in outbox(db_path) if r["kind"] == "read_key_message"]
    assert (read["state"], read["attempts"]) == ("done", 4)  # three 503s, then Slack gave it
    assert [kind for kind, _ in world.performed].count("read_key_message") == 4


async def test_a_non_retryable_error_is_dead_at_once_and_alerts_the_operators(store: SqliteStore,
                                                                             db_path: Path) -> None:
    world, clock = World(), frozen_clock()
    world.script = [IntegrationError("slack", "missing_scope", retryable=False, code="missing_scope")]
    d = dispatcher(store, world, clock)
    await run_due(d)
    effects = outbox(db_path)
    assert effects[0]["state"] == "dead" and effects[0]["attempts"] == 1
    due = await store.due_effects(now=clock.timestamp(), limit=10, busy=[])
    alerts = [r.effect for r in due if isinstance(r.effect, AlertOperators)]
    assert len(alerts) == 1 and alerts[0].group == "dead:slack:missing_scope"  # its cause's thread
    assert "missing_scope" in alerts[0].text and "PGR0VU2" in alerts[0].text
    # The incident's next effect is not held up by the dead one.
    assert any(r.effect.incident_id == "PGR0VU2" and r.effect.kind == "post_timeline_entry" for r in due)


async def test_a_bug_is_retried_with_a_reference_and_logged(store: SqliteStore, db_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    world, clock = World(), frozen_clock()
    world.script = [KeyError("oops")]
    d = dispatcher(store, world, clock)
    await run_due(d)
    row = outbox(db_path)[0]
    assert row["state"] == "pending" and "unexpected KeyError (reference " in row["last_error"]
    reference = row["last_error"].split("reference ")[1].rstrip(")")
    assert reference in caplog.text


async def test_an_alert_that_cannot_be_posted_does_not_alert_about_itself(store: SqliteStore,
                                                                          db_path: Path) -> None:
    world, clock = World(), frozen_clock()
    world.script = [IntegrationError("slack", "down", retryable=False)] * 2
    d = dispatcher(store, world, clock)
    await run_due(d)  # the channel dies, the alert is queued
    due = await store.due_effects(clock.timestamp(), 10, [])
    [entry] = [r for r in due if r.effect.kind == "post_timeline_entry"]
    await store.effect_done(entry.seq)  # out of the way, so that only the alert runs next
    await run_due(d)  # the alert dies
    kinds = [r["kind"] for r in outbox(db_path)]
    assert kinds.count("alert_operators") == 1
    assert OpenIncidentChannel("PGR0VU2").kind in kinds


async def test_an_outcome_the_store_refuses_is_logged_and_left_to_its_lease(store: SqliteStore, db_path: Path,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    class StoreGoesDown(World):
        """The store stops while the call runs (as at shutdown, or a database gone): the outcome cannot be recorded."""

        async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                          found: IncidentInSlack | None = None) -> None:
            await super().perform(effect, retry=retry, created_at=created_at, found=found)
            await store.close()

    world, clock = StoreGoesDown(), frozen_clock()
    d = dispatcher(store, world, clock)
    started = await d.start_due()
    await d.finish_in_flight()
    assert started == 1 and world.performed == [("open_incident_channel", False)]
    assert "was performed but its outcome could not be recorded" in caplog.text
    [row] = [r for r in outbox(db_path) if r["kind"] == "open_incident_channel"]
    assert (row["state"], row["attempts"]) == ("pending", 1)  # leased still: tried again once its lease ends


async def test_an_effect_a_newer_replica_queues_meanwhile_is_left_and_the_outcome_recorded(
        store: SqliteStore, db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class NewerReplicaQueues(World):
        """While the call runs, a newer replica queues an effect this version cannot decode (a field it does not
        know): until session 11 the claim after the outcome failed on it; it is left pending for a newer replica now,
        and the claim takes what follows."""

        async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                          found: IncidentInSlack | None = None) -> None:
            await super().perform(effect, retry=retry, created_at=created_at, found=found)
            if effect.kind == "open_incident_channel":
                await store.queue_effect(PostTimelineEntry("Q9", "n9"), now=1_000.0)
                with sqlite3.connect(db_path) as raw:
                    raw.execute("UPDATE outbox SET payload=json_set(payload, '$.added_by_a_newer_version', 1)"
                                " WHERE incident_id='Q9'")

    world, clock = NewerReplicaQueues(), frozen_clock()
    d = dispatcher(store, world, clock)
    assert await d.start_due() == 1
    await d.finish_in_flight()
    assert world.performed[:2] == [("open_incident_channel", False), ("open_incident_channel done", False)]
    [row] = [r for r in outbox(db_path) if r["kind"] == "open_incident_channel"]
    assert row["state"] == "done"  # not performed again once its lease ends
    [newer] = rows(db_path, "SELECT state, attempts FROM outbox WHERE incident_id = 'Q9'")
    assert (newer["state"], newer["attempts"]) == ("pending", 0)
    assert "cannot be read by this version" in caplog.text
    assert "done, but the claim after it failed" not in caplog.text
    assert "could not be recorded" not in caplog.text


@pytest.mark.parametrize("failure", [IntegrationError("slack", "down", retryable=True, status=503),
                                     IntegrationError("slack", "missing_scope", retryable=False, code="missing_scope")],
                         ids=["retry", "death"])
async def test_a_failure_the_store_refuses_to_record_is_logged_and_claimed_again_once_its_lease_ends(
        store: SqliteStore, db_path: Path, caplog: pytest.LogCaptureFixture, failure: IntegrationError) -> None:
    class StoreGoesDown(World):
        """The store stops while the call runs, and the call fails: its retry or death cannot be recorded. The store
        raised out of the effect's task, where nobody retrieved it ("Task exception was never retrieved")."""

        async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                          found: IncidentInSlack | None = None) -> None:
            self.performed.append((effect.kind, retry))
            if not retry:
                await store.close()
                raise failure

    world, clock, metrics = StoreGoesDown(), frozen_clock(), Metrics()
    d = dispatcher(store, world, clock, metrics=metrics)
    assert await d.start_due() == 1
    await d.finish_in_flight()
    # Not counted: the store did not take it, and the effect is tried again (a death counted here would count twice).
    assert outcomes_counted(metrics) == {}
    del d
    gc.collect()  # an effect's task whose exception nobody retrieved says so when it is collected
    assert "Task exception was never retrieved" not in caplog.text
    outcome = "retry" if failure.retryable else "death"
    assert (f"failed, and the store refused to record its {outcome}; it is tried again as soon as the store answers"
            in caplog.text)
    [row] = [r for r in outbox(db_path) if r["kind"] == "open_incident_channel"]
    assert (row["state"], row["attempts"]) == ("pending", 1)  # leased still
    # Nothing is lost: the database back (the store opened again), the effect is claimed once its lease has ended.
    again = SqliteStore(db_path)
    await again.open()
    try:
        clock.advance(timedelta(seconds=61))
        await run_due(dispatcher(again, world, clock))
    finally:
        await again.close()
    assert world.performed[:3] == [("open_incident_channel", False), ("open_incident_channel", True),
                                   ("open_incident_channel done", False)]
    [row] = [r for r in outbox(db_path) if r["kind"] == "open_incident_channel"]
    assert (row["state"], row["attempts"]) == ("done", 2)
