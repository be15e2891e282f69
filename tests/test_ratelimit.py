"""Token buckets pace calls to a service's published rate, with a controllable clock (no timing thresholds)."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.ratelimit import Buckets, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_bucket_allows_its_burst_then_waits_for_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    for _ in range(3):
        await bucket.acquire()
    assert slept == []
    await bucket.acquire()
    assert slept == [pytest.approx(0.5)]


async def test_buckets_are_per_key_and_unknown_methods_are_not_paced() -> None:
    buckets = Buckets({"a": 60.0}.get, scale=1.0, burst_seconds=1.0)
    await buckets.acquire("a")            # uses a's one-token burst
    await buckets.acquire("b")            # no limit known: never waits
    await buckets.acquire("a:C1", "a")    # per-channel key, own bucket
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
