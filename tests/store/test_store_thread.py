"""The SQLite store's thread (bot/adapters/store/sqlite/thread.py): jobs finished back to back go back to the event
loop in one hand-over (one wake-up of the loop), an urgent job's answer at once, none held while a long job runs,
and every caller hears its own result or error."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVarTuple, Unpack

import pytest

from bot.adapters.store.sqlite import thread
from bot.adapters.store.sqlite.thread import NORMAL, URGENT, StoreThread

Ts = TypeVarTuple("Ts")


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts how often another thread woke it (`call_soon_threadsafe`)."""

    def __init__(self) -> None:
        super().__init__()
        self.woken = 0

    def call_soon_threadsafe(self, callback: Callable[[Unpack[Ts]], object], *args: *Ts,
                             context: contextvars.Context | None = None) -> asyncio.Handle:
        self.woken += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


def run_counting(scenario: Callable[[StoreThread, CountingLoop], Any]) -> Any:
    loop = CountingLoop()
    store_thread = StoreThread()
    try:
        return loop.run_until_complete(scenario(store_thread, loop))
    finally:
        store_thread.shutdown()
        loop.close()


def doubled(n: int) -> Callable[[], int]:
    return lambda: n * 2


def test_jobs_finished_back_to_back_are_handed_over_together() -> None:
    async def scenario(store_thread: StoreThread, loop: CountingLoop) -> tuple[list[Any], int]:
        gate = threading.Event()
        # The first job holds the thread until all twenty are queued behind it: they then run back to back.
        first = asyncio.ensure_future(store_thread.run(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(store_thread.run(doubled(n))) for n in range(20)]
        await asyncio.sleep(0)
        before = loop.woken
        gate.set()
        results = await asyncio.gather(first, *rest)
        return results, loop.woken - before

    results, woken = run_counting(scenario)
    assert results == [True, *(n * 2 for n in range(20))]
    # One hand-over for the run (two if the thread looked at its queue just as the last jobs arrived), not 21.
    assert woken <= 2


def test_an_urgent_answer_is_not_held_for_the_jobs_behind_it() -> None:
    async def scenario(store_thread: StoreThread, loop: CountingLoop) -> tuple[str, bool]:
        gate, release = threading.Event(), threading.Event()
        blocker = asyncio.ensure_future(store_thread.run(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)
        urgent = asyncio.ensure_future(store_thread.run(lambda: "stored", URGENT))
        # Queued behind the urgent job: it holds the thread until the urgent answer has arrived.
        slow = asyncio.ensure_future(store_thread.run(lambda: release.wait(5), NORMAL))
        await asyncio.sleep(0)
        gate.set()
        answer = await urgent
        arrived_before_slow_finished = not slow.done()
        release.set()
        await asyncio.gather(blocker, slow)
        return answer, arrived_before_slow_finished

    answer, early = run_counting(scenario)
    assert answer == "stored"
    assert early


def test_an_answer_ready_is_not_held_while_a_long_job_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Answers held as long as jobs follow (not only HOLD_SECONDS): whether the read's answer leaves before the
    # report starts does not depend on how fast this machine runs the jobs before it.
    monkeypatch.setattr(thread, "HOLD_SECONDS", 3600.0)

    async def scenario(store_thread: StoreThread, loop: CountingLoop) -> tuple[str, bool]:
        gate, release = threading.Event(), threading.Event()
        blocker = asyncio.ensure_future(store_thread.run(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)
        # A command's read, then a report's read queued right behind it: the report runs until the read's caller has
        # its answer (were that answer held until the report finished, it would never come: `wait_for` ends the wait).
        read = asyncio.ensure_future(store_thread.run(lambda: "incident #42"))
        report = asyncio.ensure_future(store_thread.run(lambda: release.wait(30), long=True))
        await asyncio.sleep(0)
        gate.set()
        try:
            answer = await asyncio.wait_for(asyncio.shield(read), 10)
        finally:
            release.set()
        return answer, all(await asyncio.gather(blocker, report))

    answer, report_ran = run_counting(scenario)
    assert answer == "incident #42"
    assert report_ran


def test_each_caller_hears_its_own_error_among_answers_handed_over_together() -> None:
    def boom() -> None:
        raise ValueError("this job failed")

    async def scenario(store_thread: StoreThread, loop: CountingLoop) -> list[Any]:
        gate = threading.Event()
        first = asyncio.ensure_future(store_thread.run(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)
        jobs = [asyncio.ensure_future(store_thread.run(fn)) for fn in (lambda: 1, boom, lambda: 3)]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(first, *jobs, return_exceptions=True)

    results = run_counting(scenario)
    assert results[:2] == [True, 1] and results[3] == 3
    assert isinstance(results[2], ValueError) and str(results[2]) == "this job failed"


def test_a_closed_store_refuses_jobs() -> None:
    store_thread = StoreThread()
    store_thread.shutdown()

    async def call() -> int:
        return await store_thread.run(lambda: 1)
    with pytest.raises(RuntimeError, match="store is closed"):
        asyncio.run(call())


def busy_loop(gates: list[threading.Event]) -> None:
    """Open the gates one at a time, holding the caller (the event loop) meanwhile."""
    for gate in gates:
        gate.set()
        time.sleep(0.02)


def test_answers_handed_over_while_the_loop_is_busy_ride_on_one_wake_up() -> None:
    async def scenario(store_thread: StoreThread, loop: CountingLoop) -> tuple[list[Any], int]:
        gates = [threading.Event() for _ in range(5)]
        jobs = [asyncio.ensure_future(store_thread.run(gate.wait)) for gate in gates]
        await asyncio.sleep(0)
        before = loop.woken
        # The loop is busy (blocked here) while the jobs finish one at a time, each handed over on its own.
        busy_loop(gates)
        results = await asyncio.gather(*jobs)
        return results, loop.woken - before

    results, woken = run_counting(scenario)
    assert results == [True] * 5
    assert woken == 1


def started_within(event: threading.Event, seconds: float) -> bool:
    """Whether `event` is set within `seconds`, holding the caller (the event loop: still in the same turn)."""
    return event.wait(seconds)


def test_jobs_queued_in_one_turn_of_the_loop_wake_the_thread_at_its_end_and_an_urgent_one_at_once() -> None:
    async def scenario(store_thread: StoreThread, loop: CountingLoop) -> tuple[bool, bool, list[Any]]:
        await asyncio.sleep(0.05)  # the thread has found nothing to do and sleeps
        normal, urgent = threading.Event(), threading.Event()
        first = store_thread.run(normal.set)
        # Still this turn: the thread is not woken for a normal job until the turn ends (the jobs queued with it go
        # along), but at once for an urgent one (a webhook's).
        normal_ran_early = started_within(normal, 0.1)
        second = store_thread.run(urgent.set, URGENT)
        urgent_ran = started_within(urgent, 5)
        return normal_ran_early, urgent_ran, list(await asyncio.gather(first, second))

    normal_ran_early, urgent_ran, results = run_counting(scenario)
    assert not normal_ran_early
    assert urgent_ran
    assert results == [None, None]


def test_a_job_from_a_second_loop_runs_though_the_first_loop_stopped_before_its_turn_ended() -> None:
    store_thread = StoreThread()
    first_loop, second_loop = asyncio.new_event_loop(), asyncio.new_event_loop()
    left: list[asyncio.Future[int]] = []

    def queue_and_stop() -> None:
        left.append(store_thread.run(lambda: 1))
        first_loop.stop()  # this turn is the loop's last: what was due at its end never comes

    async def answer_within_seconds() -> int:
        return await asyncio.wait_for(store_thread.run(lambda: 2), 5)
    try:
        first_loop.run_until_complete(asyncio.sleep(0.05))  # the thread has found nothing to do and sleeps
        first_loop.call_soon(queue_and_stop)
        first_loop.run_forever()
        assert second_loop.run_until_complete(answer_within_seconds()) == 2
    finally:
        store_thread.shutdown()
        first_loop.close()
        second_loop.close()
