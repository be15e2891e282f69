"""The Deduplication port: a key is seen first once within its window, however many ask at once, and again after;
claimed with an effect, the effect is queued with the claim or not at all."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from bot.domain.effects import AlertOperators
from bot.ports.store import Store


async def test_a_key_is_seen_first_once_within_its_window_and_again_after_it(store: Store) -> None:
    firsts = await asyncio.gather(*(store.first_time("U1:ack:Q1", 5, 100.0) for _ in range(10)))
    assert firsts.count(True) == 1
    assert not await store.first_time("U1:ack:Q1", 5, 104.9)
    assert await store.first_time("U2:ack:Q1", 5, 104.9)
    assert await store.first_time("U1:ack:Q1", 5, 105.0)


async def test_a_key_seen_again_is_remembered_from_its_new_window(store: Store) -> None:
    assert await store.first_time("retry:1", 10, 0.0)
    assert await store.first_time("retry:1", 10, 10.0)  # the first window is over: a new one starts at 10
    assert not await store.first_time("retry:1", 10, 19.0)
    assert await store.first_time("retry:1", 10, 20.0)


async def test_a_key_forgotten_is_seen_first_again_within_its_window(store: Store) -> None:
    assert await store.first_time("command:ack", 5, 100.0)
    assert not await store.first_time("command:ack", 5, 101.0)
    await store.forget("command:ack")  # what it asked for failed: the person's next try is a first
    assert await store.first_time("command:ack", 5, 102.0)
    assert not await store.first_time("command:ack", 5, 103.0)
    await store.forget("never-seen")  # nothing to forget: nothing happens
    assert not await store.first_time("command:ack", 5, 103.0)


async def test_a_key_remembered_takes_its_new_window_whatever_it_had(store: Store) -> None:
    assert await store.first_time("command:page", 30, 100.0)  # under way: covered for as long as it may take
    await store.remember("command:page", 5, 112.0)  # answered at 112: its repeats counted from there
    assert not await store.first_time("command:page", 5, 116.9)
    assert await store.first_time("command:page", 5, 117.0)  # not 130: the window was shortened
    await store.remember("command:other", 5, 200.0)  # never claimed: remembered all the same
    assert not await store.first_time("command:other", 5, 204.0)
    assert await store.first_time("command:other", 5, 205.0)


async def test_still_seen_reads_which_keys_are_remembered_without_claiming_any(store: Store) -> None:
    assert await store.still_seen([], 100.0) == set()
    assert await store.first_time("archive:a", 10, 100.0)
    assert await store.first_time("archive:b", 1, 100.0)
    assert await store.still_seen(["archive:a", "archive:b", "archive:c"], 100.5) == {"archive:a", "archive:b"}
    assert await store.still_seen(["archive:a", "archive:b", "archive:c"], 101.0) == {"archive:a"}  # b's is over
    assert await store.first_time("archive:c", 10, 101.0)  # reading claimed nothing
    many = [f"archive:{n}" for n in range(1200)]  # more than one statement's parameters
    assert await store.still_seen([*many, "archive:a"], 102.0) == {"archive:a"}


async def test_a_claim_with_its_effect_queues_it_once_within_its_window_and_again_after_it(store: Store) -> None:
    """An operators' alert told once a month: claimed and queued in one write, however many ask at once."""
    alert = AlertOperators.grouped("servicenow:close-code", "⚠️ told once a month")
    firsts = await asyncio.gather(*(store.first_time_then_queue("told:month", 30, 100.0, alert) for _ in range(10)))
    assert firsts.count(True) == 1
    assert await store.pending_in_queue(alert.queue) == 1
    [queued] = await store.due_effects(now=100.0, limit=10, busy=[])
    assert queued.effect == alert
    assert not await store.first_time_then_queue("told:month", 30, 129.9, alert)
    assert not await store.first_time("told:month", 30, 129.9)  # the claim is the same key's as first_time's
    assert await store.pending_in_queue(alert.queue) == 1
    assert await store.first_time_then_queue("told:month", 30, 130.0, alert)  # the month is over: told again
    assert await store.pending_in_queue(alert.queue) == 2


async def test_a_claim_whose_effect_cannot_be_queued_is_not_made(store: Store) -> None:
    """Claimed but not queued, the alert was lost for its window: the claim and the effect are one transaction."""
    unstorable = AlertOperators("operators", cast(str, object()))  # (its payload is no JSON)
    with pytest.raises(TypeError):
        await store.first_time_then_queue("told:month", 30, 100.0, unstorable)
    assert await store.pending_in_queue(unstorable.queue) == 0
    assert await store.first_time("told:month", 30, 101.0)  # not claimed by the call that failed
