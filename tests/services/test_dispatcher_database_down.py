"""PostgreSQL stopped while an effect's outside call runs, and the call fails: the store cannot record the effect's
retry or death. The dispatcher says so in its log (what happened, what to check) instead of letting the store's error
out of the effect's task, where nobody retrieved it ("Task exception was never retrieved"); once the database is
back and the effect's lease has ended, the effect is claimed again and done: nothing lost. A cluster of the test's
own: it is stopped under the store, which the session's must not be."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.postgres.store import PostgresStore
from bot.domain.effects import Effect
from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack
from bot.services.dispatcher import Dispatcher, RetryPolicy
from tests.helpers import store_one_triggered_incident
from tests.pg_cluster import PostgresCluster

LEASE_SECONDS = 60.0


@pytest.fixture
async def store(own_cluster: PostgresCluster) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(own_cluster.url(own_cluster.fresh_database()))
    await s.open()
    await store_one_triggered_incident(s)
    yield s
    await s.close()


class CallFailsAsTheDatabaseGoes:
    """The outside world: its first call fails, and meanwhile PostgreSQL stops; later calls succeed."""

    def __init__(self, cluster: PostgresCluster, failure: IntegrationError) -> None:
        self.cluster, self.failure = cluster, failure
        self.performed: list[tuple[str, bool]] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append((effect.kind, retry))
        if len(self.performed) == 1:
            await asyncio.to_thread(self.cluster.stop)
            raise self.failure

    async def after_done(self, effect: Effect) -> None:
        self.performed.append((f"{effect.kind} done", False))


def dispatcher(store: PostgresStore, world: CallFailsAsTheDatabaseGoes, clock: SettableClock) -> Dispatcher:
    return Dispatcher(store, world, clock, Metrics(), RetryPolicy(max_attempts=3, base_seconds=2, max_seconds=60),
                      lease_seconds=LEASE_SECONDS, rng=random.Random(7))


@pytest.mark.parametrize("failure", [IntegrationError("slack", "down", retryable=True, status=503),
                                     IntegrationError("slack", "missing_scope", retryable=False, code="missing_scope")],
                         ids=["retry", "death"])
async def test_a_failure_recorded_while_the_database_is_down_is_logged_and_claimed_again_once_it_is_back(
        store: PostgresStore, own_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture,
        failure: IntegrationError) -> None:
    world, clock = CallFailsAsTheDatabaseGoes(own_cluster, failure), SettableClock(datetime.fromtimestamp(1_000, UTC),
                                                                                     frozen=True)
    d = dispatcher(store, world, clock)
    assert await d.start_due() == 1
    await d.finish_in_flight()
    gc.collect()  # an effect's task whose exception nobody retrieved says so when it is collected
    assert "Task exception was never retrieved" not in caplog.text
    outcome = "retry" if failure.retryable else "death"
    assert (f"failed, and the store refused to record its {outcome}; it is tried again as soon as the store answers"
            in caplog.text)
    assert "check the database: is it reachable, is its disk full?" in caplog.text
    # The database back, the same store answers again; once the lease has ended, the effect is claimed and done.
    await asyncio.to_thread(own_cluster.start)
    clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    await d.start_due()
    await d.finish_in_flight()
    assert world.performed[:3] == [("open_incident_channel", False), ("open_incident_channel", True),
                                   ("open_incident_channel done", False)]
    assert await store.dead_effects() == []
