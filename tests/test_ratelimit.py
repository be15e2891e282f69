"""Token buckets pace calls to a service's published rate, with a controllable clock (no timing thresholds): in one
process, or shared by the replicas through the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.slack.ratelimit import Buckets, TokenBucket
from bot.adapters.store.sqlite.store import SqliteStore

EPOCH = datetime.fromtimestamp(0, UTC)


async def test_a_bucket_allows_its_burst_then_waits_for_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SettableClock(EPOCH, frozen=True)  # moved only by the sleeps
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    bucket = TokenBucket(rate=2.0, burst=3, clock=clock.timestamp)
    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    for _ in range(3):
        await bucket.acquire()
    assert slept == []
    await bucket.acquire()
    assert slept == [pytest.approx(0.5)]


async def test_buckets_are_per_key_and_unknown_methods_are_not_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SettableClock(EPOCH, frozen=True)  # moved only by the sleeps
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    buckets = Buckets({"chat.postMessage": 60.0}.get, scale=1.0, burst_seconds=1.0, clock=clock.timestamp)
    await buckets.acquire("chat.postMessage:C1", "chat.postMessage")   # C1's one-token burst
    await buckets.acquire("chat.postMessage:C2", "chat.postMessage")   # another channel: its own bucket
    await buckets.acquire("users.info")                                # no limit known: never waits
    assert slept == []
    await buckets.acquire("chat.postMessage:C1", "chat.postMessage")   # C1 again: waits a second
    assert slept == [pytest.approx(1.0)]
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


async def test_replicas_pace_themselves_from_one_shared_bucket(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    clock = SettableClock(EPOCH, frozen=True)  # wall-clock time, moved only by the sleeps
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    # Two replicas: two stores on one database, each with the Slack adapter's buckets drawing on it.
    one, two = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    await one.open()
    await two.open()
    try:
        monkeypatch.setattr(asyncio, "sleep", fake_sleep)
        here, there = (Buckets({"pins.add": 60.0}.get, scale=1.0, burst_seconds=1.0, shared=store,
                               wall_clock=clock.timestamp) for store in (one, two))
        await here.acquire("pins.add")  # the one-token burst, taken by the first replica...
        assert slept == []
        await there.acquire("pins.add")  # ...so the second waits its second, as one process would
        assert slept == [pytest.approx(1.0)]
        await there.acquire("users.info")  # no limit known: never waits, never asks the store
        assert slept == [pytest.approx(1.0)]
    finally:
        await two.close()
        await one.close()
