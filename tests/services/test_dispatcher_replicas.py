"""Two dispatchers on one database file are two replicas: an effect runs on one of them at a time, a replica that
stops (dies, stalls) has its effect taken over when its lease ends, a slow effect keeps its lease by renewing it, and
the replica that lost a lease cannot overwrite the outcome of the one that took over.

The executor is a stand-in for the outside world (a Slack call that takes as long as the test says), not for the
dispatcher; the store is the real one, two instances on one file.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.pagerduty.webhook import read_event
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.incident import ChannelPolicy, apply_event
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack
from bot.services.dispatcher import Dispatcher, RetryPolicy
from tests.e2e.sandbox_helpers import eventually
from tests.helpers import incident_event, rows


class SlowWorld:
    """Records who performed what; an effect named in `held` takes until the test releases the replica's call."""

    def __init__(self) -> None:
        self.performed: list[tuple[str, str, bool]] = []
        self.followed_up: list[tuple[str, str]] = []
        self.held: set[str] = set()
        self.gates = {"a": asyncio.Event(), "b": asyncio.Event()}

    def replica(self, name: str) -> Replica:
        return Replica(self, name)


class Replica:
    def __init__(self, world: SlowWorld, name: str) -> None:
        self._world, self.name = world, name

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self._world.performed.append((self.name, effect.kind, retry))
        if effect.kind in self._world.held:
            await self._world.gates[self.name].wait()

    async def after_done(self, effect: Effect) -> None:
        self._world.followed_up.append((self.name, effect.kind))


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    one, two = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    await one.open()
    await two.open()
    await one.record_delivery(source="pagerduty", delivery_id="d", event_id="e", event_type="incident.triggered",
                              incident_id="PGR0VU2", occurred_at="t", body="{}")
    await one.commit_decision(1, apply_event(None, read_event(incident_event("incident.triggered")),
                                             ChannelPolicy()), now=1_000.0)
    yield one, two
    await two.close()
    await one.close()


def dispatcher(store: SqliteStore, world: SlowWorld, name: str, clock: SettableClock,
               lease_seconds: float = 60.0) -> Dispatcher:
    return Dispatcher(store, world.replica(name), clock, Metrics(), RetryPolicy(max_attempts=3),
                      rng=random.Random(7), owner=name, lease_seconds=lease_seconds)


def lease(db: Path) -> tuple[str | None, float | None]:
    [row] = rows(db, "SELECT lease_owner, leased_until FROM outbox WHERE kind='open_incident_channel'")
    return row["lease_owner"], row["leased_until"]


async def test_an_effect_leased_by_one_replica_is_not_started_by_the_other_nor_anything_behind_it(
        stores: tuple[SqliteStore, SqliteStore], clock: SettableClock) -> None:
    world = SlowWorld()
    world.held.add("open_incident_channel")
    a, b = dispatcher(stores[0], world, "a", clock), dispatcher(stores[1], world, "b", clock)
    assert await a.start_due() == 1
    await eventually(lambda: len(world.performed) == 1)
    assert await b.start_due() == 0  # the channel is being opened by a; the timeline post waits behind it
    world.gates["a"].set()
    # a's outcome claims what its slot does next: the timeline post, behind the channel in its queue; b gets nothing.
    await a.finish_in_flight()
    assert await b.start_due() == 0
    assert world.performed == [("a", "open_incident_channel", False), ("a", "post_timeline_entry", False)]
    assert world.followed_up == [("a", "open_incident_channel"), ("a", "post_timeline_entry")]


async def test_a_stopped_replicas_effect_is_taken_over_as_a_retry_and_its_late_outcome_is_refused(
        stores: tuple[SqliteStore, SqliteStore], clock: SettableClock, tmp_path: Path) -> None:
    world = SlowWorld()
    world.held.add("open_incident_channel")
    a, b = dispatcher(stores[0], world, "a", clock), dispatcher(stores[1], world, "b", clock)
    assert await a.start_due() == 1
    await eventually(lambda: len(world.performed) == 1)
    # a stalls past its lease (it renews on real time, which this frozen clock ignores: as if it had stopped).
    clock.advance(timedelta(seconds=61))
    assert await b.start_due() == 1
    await eventually(lambda: len(world.performed) == 2)
    assert world.performed[1] == ("b", "open_incident_channel", True)  # b looks before it creates
    world.gates["a"].set()
    await a.finish_in_flight()  # a's call comes back at last, while b's runs: its "done" is refused
    assert lease(tmp_path / "shared.db")[0] == "b"
    world.gates["b"].set()
    await b.finish_in_flight()
    # a's follow-up skipped, and its refused outcome claimed nothing: b went on with the queue.
    assert world.followed_up == [("b", "open_incident_channel"), ("b", "post_timeline_entry")]
    assert lease(tmp_path / "shared.db") == (None, None)
    [opening] = rows(tmp_path / "shared.db", "SELECT state, attempts FROM outbox WHERE kind='open_incident_channel'")
    assert opening == {"state": "done", "attempts": 2}


async def test_a_slow_effect_renews_its_lease_and_keeps_it(stores: tuple[SqliteStore, SqliteStore],
                                                           clock: SettableClock, tmp_path: Path) -> None:
    world = SlowWorld()
    world.held.add("open_incident_channel")
    a = dispatcher(stores[0], world, "a", clock, lease_seconds=0.3)
    b = dispatcher(stores[1], world, "b", clock, lease_seconds=0.3)
    assert await a.start_due() == 1
    await eventually(lambda: len(world.performed) == 1)
    assert lease(tmp_path / "shared.db")[0] == "a" and lease(tmp_path / "shared.db")[1] == pytest.approx(1_000.3)
    clock.advance(timedelta(seconds=0.2))
    # a renews every third of its lease while the call runs: from the moved clock, until 1_000.5.
    await eventually(lambda: (lease(tmp_path / "shared.db")[1] or 0) >= 1_000.5 - 1e-6)
    clock.advance(timedelta(seconds=0.25))  # past the first lease, within the renewed one
    assert await b.start_due() == 0
    world.gates["a"].set()
    await a.finish_in_flight()
    assert [who for who, _, _ in world.performed] == ["a", "a"]  # the channel, then (its outcome's claim) the post
    assert world.followed_up == [("a", "open_incident_channel"), ("a", "post_timeline_entry")]
