"""The dispatcher's lanes, against the real store: Slack effects waiting for Slack's budget take Slack's slots only,
so ServiceNow's and PagerDuty's work goes on meanwhile; each lane runs at most its own limit at once.

The executor here stands in for the outside world: a Slack call that waits for its rate budget (an event the test
sets) and ServiceNow and PagerDuty calls that answer at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.pagerduty import PublishStatusUpdate
from bot.domain.effects.servicenow import OpenTicket
from bot.domain.effects.slack import PostTimelineEntry
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack, Store
from bot.services.dispatcher import LANE_CONCURRENCY, Dispatcher
from tests.pg_cluster import PostgresCluster


class PacedSlack:
    """Slack calls wait until the budget is given (like a token bucket at Slack's pace); others answer at once."""

    def __init__(self) -> None:
        self.budget = asyncio.Event()
        self.waiting_for_slack = 0
        self.most_waiting = 0
        self.performed: list[str] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        if effect.system == "slack":
            self.waiting_for_slack += 1
            self.most_waiting = max(self.most_waiting, self.waiting_for_slack)
            await self.budget.wait()
            self.waiting_for_slack -= 1
        self.performed.append(f"{effect.kind}:{effect.incident_id}")

    async def after_done(self, effect: Effect) -> None:
        return None


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Both stores: each claims in its own way with an outcome (SQLite in the outcome's transaction, PostgreSQL after
    it)."""
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "d.db")
        await s.open()
        yield s
        await s.close()
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.fresh_database()
    s = PostgresStore(cluster.url(database))
    await s.open()
    yield s
    await s.close()
    cluster.drop_database(database)


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time given")


def met(test: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return test()
    return check


async def test_tickets_and_pages_go_on_while_slack_effects_wait_for_slack(store: Store) -> None:
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    for n in range(12):  # a storm's worth of Slack work, queued first and ahead of the tickets
        await store.queue_effect(PostTimelineEntry(f"Q{n}", "e"), now=1_000.0, priority=0)
    for n in range(12):
        await store.queue_effect(OpenTicket(f"Q{n}"), now=1_000.0)
    await store.queue_effect(PublishStatusUpdate("Q0", "u1"), now=1_000.0)
    world = PacedSlack()
    dispatcher = Dispatcher(store, world, clock, Metrics(), concurrency={"slack": 3})
    running = asyncio.create_task(dispatcher.run())
    try:
        await until(met(lambda: len(world.performed) == 13))
        # Every ticket and the status update while not one Slack call had its budget, and only 3 Slack effects
        # held slots meanwhile.
        assert sorted(world.performed) == sorted([f"open_ticket:Q{n}" for n in range(12)]
                                                 + ["publish_status_update:Q0"])
        assert world.waiting_for_slack == 3 and world.most_waiting == 3
        world.budget.set()
        await until(met(lambda: len(world.performed) == 25))
        assert world.most_waiting == 3
        await until(dispatcher.idle)  # the last ones performed are recorded done
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_every_lane_has_a_limit_and_a_number_sets_them_all(store: Store) -> None:
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    for n in range(5):
        await store.queue_effect(PostTimelineEntry(f"Q{n}", "e"), now=1_000.0)
    world = PacedSlack()
    one_each = Dispatcher(store, world, clock, Metrics(), concurrency=1)
    assert await one_each.start_due() == 1
    # Another dispatcher on the same store, while the first one's effect waits for Slack: the default limit.
    default = Dispatcher(store, world, clock, Metrics())
    assert await default.start_due() == min(4, LANE_CONCURRENCY["slack"])
    world.budget.set()
    await one_each.finish_in_flight()
    await default.finish_in_flight()


async def test_finished_effects_claim_what_their_slots_do_next_within_each_lanes_limit(store: Store) -> None:
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    for n in range(4):  # four incidents' Slack queues, three lines each, and a ticket each
        for line in ("e1", "e2", "e3"):
            await store.queue_effect(PostTimelineEntry(f"Q{n}", line), now=1_000.0)
        await store.queue_effect(OpenTicket(f"Q{n}"), now=1_000.0)
    world = PacedSlack()
    dispatcher = Dispatcher(store, world, clock, Metrics(), concurrency={"slack": 2, "servicenow": 1})
    # One claim, and no loop: what follows is claimed by the outcomes of the effects that finish.
    assert await dispatcher.start_due() == 3
    await until(met(lambda: world.waiting_for_slack == 2 and len(world.performed) == 4))
    assert sorted(world.performed) == [f"open_ticket:Q{n}" for n in range(4)]  # one at a time, one after the other
    world.budget.set()
    await dispatcher.finish_in_flight()
    assert world.most_waiting == 2 and len(world.performed) == 16
    for n in range(4):  # in order within each queue
        lines = [kind for kind in world.performed if kind == f"post_timeline_entry:Q{n}"]
        assert len(lines) == 3
    assert await store.due_effects(now=1_000.0, limit=10, busy=[]) == []
