"""The scheduled card refreshes (bot/services/card_refreshes.py) over a real store and the example catalogue, on the
sandbox's settable clock: with more open cards than the minute's budget, one run queues at most the budget; run after
run every card gets its turn, shown longest ago first; refreshes already pending count against the budget, whichever
job queued them, and whichever replica (two runtimes' jobs on one store, at the same instant, stay within one
budget, on either store); none while a new incident's channel waits to be opened (refused as rate-limited, it still
waits); unpaced, every due card is queued at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.pagerduty.webhook import read_event
from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import Catalogue
from bot.domain.incident import Decision, apply_event
from bot.ports.store import Store
from bot.services.card_refreshes import CardRefreshes, scheduled_refresh_budget
from tests.helpers import incident_event
from tests.pg_cluster import PostgresCluster
from tests.store.contract.builders import DAY, POLICY, at, commit, drain

CARDS = 10
BUDGET = 3


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "bot.db")
    await opened.open()
    yield opened
    await opened.close()


def checkout_trigger(number: int) -> Decision:
    """A new incident on Checkout (High band: £750K in a 45 min window, so its money moves every minute)."""
    event = incident_event("incident.triggered", incident_id=f"Q{number:02d}", number=number, occurred_at=at(0),
                           created_at=at(0))
    event["event"]["data"]["service"]["id"] = "PCHECKO"
    return apply_event(None, read_event(event), POLICY)


async def storm(store: Store, clock: SettableClock) -> None:
    await commit(store, *(checkout_trigger(n) for n in range(1, CARDS + 1)), now=DAY.timestamp())
    await drain(store)  # every channel opened, every card drawn
    clock.set(DAY + timedelta(minutes=1, seconds=1))


async def pending_refreshes(store: Store) -> list[str]:
    return [c.incident_id for c in await store.card_refresh_states() if c.refresh_pending]


async def test_one_run_queues_at_most_the_budget_and_every_card_gets_its_turn(
        store: SqliteStore, catalogue: Catalogue) -> None:
    clock = SettableClock(DAY, frozen=True)
    woken: list[None] = []
    refreshes = CardRefreshes(store, catalogue, clock, lambda: woken.append(None), per_minute=BUDGET)
    await storm(store, clock)
    turns: list[list[str]] = []
    for _ in range(4):  # ceil(10 / 3) minutes
        assert await refreshes.money_at_stake(job_minutes=1) == BUDGET
        turns.append(await pending_refreshes(store))
        # The same minute again (another replica's late firing, or the five-minute job): the budget is spent.
        assert await refreshes.money_at_stake(job_minutes=1) == 0
        assert await refreshes.elapsed_time(every_minutes=5) == 0
        await drain(store, now=clock.now().timestamp())  # Slack carried them
        clock.advance(timedelta(minutes=1))
    assert len(woken) == 4
    # Shown longest ago first: the first nine cards in three turns, then the tenth before any card a second time.
    assert turns[:3] == [["Q01", "Q02", "Q03"], ["Q04", "Q05", "Q06"], ["Q07", "Q08", "Q09"]]
    assert turns[3] == ["Q01", "Q02", "Q10"]
    assert {card for turn in turns for card in turn} == {f"Q{n:02d}" for n in range(1, CARDS + 1)}


async def test_refreshes_still_pending_count_against_the_next_minutes_budget(
        store: SqliteStore, catalogue: Catalogue) -> None:
    clock = SettableClock(DAY, frozen=True)
    refreshes = CardRefreshes(store, catalogue, clock, lambda: None, per_minute=BUDGET)
    await storm(store, clock)
    assert await refreshes.money_at_stake(job_minutes=1) == BUDGET
    clock.advance(timedelta(minutes=1))  # Slack has not carried them yet (new incidents' channels went first)
    assert await refreshes.money_at_stake(job_minutes=1) == 0
    assert len(await pending_refreshes(store)) == BUDGET
    await drain(store, now=clock.now().timestamp())
    clock.advance(timedelta(minutes=1))
    assert await refreshes.money_at_stake(job_minutes=1) == BUDGET


async def test_unpaced_every_due_card_is_queued_at_once(store: SqliteStore, catalogue: Catalogue) -> None:
    clock = SettableClock(DAY, frozen=True)
    refreshes = CardRefreshes(store, catalogue, clock, lambda: None, per_minute=scheduled_refresh_budget(None))
    await storm(store, clock)
    assert await refreshes.money_at_stake(job_minutes=1) == CARDS



async def test_the_five_minute_job_retries_a_card_never_posted_and_leaves_one_just_drawn(
        store: SqliteStore, catalogue: Catalogue) -> None:
    """A card posted a moment ago and never refreshed (everything it shows was on it when drawn: a ticket opened
    before it queues no refresh) is not drawn again for nothing; one whose channel never opened gets its try."""
    clock = SettableClock(DAY, frozen=True)
    refreshes = CardRefreshes(store, catalogue, clock, lambda: None, per_minute=scheduled_refresh_budget(None))
    await commit(store, checkout_trigger(1), checkout_trigger(2), now=DAY.timestamp())
    await drain(store)  # the openings' effects taken; only Q01's got as far as posting its card
    await store.update_footprint("Q01", channel_id="C1", card_ts="1.1")
    clock.set(DAY + timedelta(seconds=30))
    assert await refreshes.elapsed_time(every_minutes=5) == 1
    assert await pending_refreshes(store) == ["Q02"]

def test_the_budget_is_a_share_of_chat_updates_pace() -> None:
    assert scheduled_refresh_budget(50) == 40  # Slack's Tier 3: ten a minute left for state changes
    assert scheduled_refresh_budget(500) == 400
    assert scheduled_refresh_budget(0.5) == 1


async def test_refreshes_yield_to_new_incidents_channels_still_to_be_opened(
        store: SqliteStore, catalogue: Catalogue) -> None:
    clock = SettableClock(DAY, frozen=True)
    refreshes = CardRefreshes(store, catalogue, clock, lambda: None, per_minute=BUDGET)
    await storm(store, clock)
    # Two more incidents arrive: while their channels wait to be opened, no refresh is asked for.
    await commit(store, checkout_trigger(11), checkout_trigger(12), now=clock.now().timestamp())
    assert await refreshes.money_at_stake(job_minutes=1) == 0
    assert await refreshes.elapsed_time(every_minutes=5) == 0
    assert await pending_refreshes(store) == []
    [first, _] = await store.due_effects(now=clock.now().timestamp(), limit=10, busy=[])
    await store.claim_effect(first.seq, owner="dispatcher", now=clock.now().timestamp(), lease_seconds=60)
    assert await refreshes.money_at_stake(job_minutes=1) == 0  # one opening begun, the other still waits
    await drain(store, now=clock.now().timestamp())
    assert await refreshes.money_at_stake(job_minutes=1) == BUDGET  # all open: the oldest shown first
    assert await pending_refreshes(store) == ["Q01", "Q02", "Q03"]


async def test_refreshes_still_yield_to_a_channel_slack_refused_as_rate_limited(
        store: SqliteStore, catalogue: Catalogue) -> None:
    # A storm: Slack answers the new incident's channel creation 429. Refused, its opening has not begun (the
    # dispatcher takes it before any scheduled refresh once its wait is over): the jobs still queue nothing.
    clock = SettableClock(DAY, frozen=True)
    refreshes = CardRefreshes(store, catalogue, clock, lambda: None, per_minute=BUDGET)
    await storm(store, clock)
    await commit(store, checkout_trigger(11), now=clock.now().timestamp())
    now = clock.now().timestamp()
    [opening] = (await store.claim_due_effects(now, {"slack": 1}, [], owner="dispatcher", lease_seconds=60))["slack"]
    assert await store.effect_retry(opening.seq, now + 30, "slack: conversations.create failed: ratelimited",
                                    owner="dispatcher", rate_limited_at=now)
    assert await refreshes.money_at_stake(job_minutes=1) == 0
    assert await refreshes.elapsed_time(every_minutes=5) == 0
    assert await pending_refreshes(store) == []


def sqlite_replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    return lambda: SqliteStore(tmp_path / "shared.db")


def postgres_replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.fresh_database()
    request.addfinalizer(lambda: cluster.drop_database(database))
    url = cluster.url(database)
    return lambda: PostgresStore(url)


@pytest.fixture(params=[sqlite_replicas, postgres_replicas], ids=["sqlite", "postgres"])
async def two_replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two store instances on the same data: two runtimes' stores (each its own connection, as its own process)."""
    make: Callable[[], Store] = request.param(request, tmp_path)
    one, two = make(), make()
    await one.open()
    await two.open()
    yield one, two
    await two.close()
    await one.close()


async def test_two_replicas_running_the_jobs_at_the_same_instant_queue_one_minutes_budget(
        two_replicas: tuple[Store, Store], catalogue: Catalogue) -> None:
    one, two = two_replicas
    clock = SettableClock(DAY, frozen=True)
    await storm(one, clock)
    clock.advance(timedelta(minutes=4))  # the five-minute mark: both jobs fire, each claimed by another replica
    # Each runtime has its own CardRefreshes (its lock is its process's): replica A runs the minute job while
    # replica B runs the five-minute one, at the same instant.
    a = CardRefreshes(one, catalogue, clock, lambda: None, per_minute=BUDGET)
    b = CardRefreshes(two, catalogue, clock, lambda: None, per_minute=BUDGET)
    queued = await asyncio.gather(a.money_at_stake(job_minutes=1), b.elapsed_time(every_minutes=5),
                                  a.elapsed_time(every_minutes=5), b.money_at_stake(job_minutes=1))
    assert sum(queued) == BUDGET
    assert len(await pending_refreshes(one)) == BUDGET
    await drain(one, now=clock.now().timestamp())  # Slack carried them at once
    # A firing 31 s late on the other replica (its misfire grace): nothing pending, nothing queued in the last 30 s,
    # yet the minute's budget is spent — only what the bucket refilled since (half a minute's: 1 of 3) is queued.
    clock.advance(timedelta(seconds=31))
    assert await b.money_at_stake(job_minutes=1) == 1
    await drain(one, now=clock.now().timestamp())
    clock.advance(timedelta(minutes=2))  # a whole minute's budget again, whichever replica asks
    assert await b.money_at_stake(job_minutes=1) + await a.money_at_stake(job_minutes=1) == BUDGET
