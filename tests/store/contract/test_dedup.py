"""The Deduplication port: a key is seen first once within its window, however many ask at once, and again after."""

from __future__ import annotations

import asyncio

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
