"""The store's one thread: runs jobs one at a time, most urgent first.

sqlite3 connections belong to the thread that made them and SQLite has one writer at a time, so every store
operation runs here. Jobs carry a priority: recording an incoming webhook (which PagerDuty is waiting on) goes ahead
of the worker's and dispatcher's bookkeeping, so a burst of effects never delays the answer to a delivery.

Every store call crosses to this thread and back, a hundred times or more per incident, so the crossing is kept
cheap. Jobs wait in a heap (most urgent, then oldest, first), not in a `queue.PriorityQueue`, whose pure-Python
Condition costs more than most jobs. The thread sleeps on a plain lock only when the heap is empty, and is woken (a
futex wake, and the GIL handed to a second thread: the event loop's biggest store cost) once per sleep, not once per
job: a job queued while it works is found when it looks again, and the jobs queued in one turn of the event loop
wake it once, at the end of that turn (an urgent one at once). Results go straight to the callers' asyncio futures on
their loop: the results of jobs run back to back in one hand-over (one wake-up of the loop for them all; an urgent
job's at once, and none held more than HOLD_SECONDS between jobs), and hand-overs made while the loop has not yet
taken the last one ride on its wake-up.

An answer is held only while short jobs run. A held answer cannot leave while a job runs (this thread is the one that
hands it over), so a job that may take long — a report's read, a retention batch, a sweep over every incident, the
migrations — is queued with `run(..., long=True)`, and the answers held go back before it starts: a command's read or
a webhook's lookup finished just before it does not wait for it. Short jobs, the common path, pay one test of a flag
for this; a long one at most one hand-over more, which it dwarfs. (Marked by the caller, not measured: a job's
length is known only once it has run, and a watchdog thread handing over for a job running long would have to hear
of every job starting, a cost on every crossing.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
URGENT, NORMAL = 0, 1
# (priority, order, function, its caller's future, their loop, whether it may take long)
Job = tuple[int, int, Callable[[], Any] | None, asyncio.Future[Any] | None, asyncio.AbstractEventLoop | None, bool]
Answer = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], bool, Any]
# How long a finished job's answer may wait for the jobs queued behind it, to go back to the loop with theirs.
HOLD_SECONDS = 0.002
# Benchmarks only (bench/soak.py --trips): a file to which each store thread, when it shuts down, adds how many
# trips each kind of job made, the CPU each kind took on this thread (µs), and how many commits of each kind it ran
# (`TRIPS` counts them meanwhile).
TRIPS_FILE = os.environ.get("PAVED_ROAD_STORE_TRIPS")
TRIPS: Counter[str] | None = Counter() if TRIPS_FILE else None


class StoreThread:
    def __init__(self, name: str = "pavedroad-store") -> None:
        self._jobs: list[Job] = []
        self._lock = threading.Lock()  # guards the heap and the two flags below
        # The thread sleeps on `_wake` (held while it may sleep) when there is no job, saying so in `_waiting`;
        # whoever clears `_waiting` releases `_wake`, once. `_kick_on`: the event loop at the end of whose turn a
        # wake-up is due.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._waiting = False
        self._kick_on: asyncio.AbstractEventLoop | None = None
        self._order = itertools.count()  # first in, first out within a priority
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._closed = False
        # Finished jobs' answers not yet handed over to their loops, and since when the oldest has waited.
        self._answers: list[Answer] = []
        self._answers_since = 0.0
        # Answers handed over to a loop that has not yet taken them: a wake-up is on its way to that loop, and it
        # takes any answers added meanwhile with it (no second write to its self-pipe while it is busy).
        self._mailboxes: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
        self._mail_lock = threading.Lock()
        self._thread.start()

    def _loop(self) -> None:
        _name_native_thread(self._thread.name)
        while True:
            # Answers go back together once nothing else is waiting here (or they have waited HOLD_SECONDS): each
            # hand-over wakes the event loop (a write to its self-pipe, a read back, a turn of the loop), so one
            # hand-over for the jobs finished in a row instead of one each.
            if self._answers and (not self._jobs or time.perf_counter() - self._answers_since > HOLD_SECONDS):
                self._hand_over()
            priority, _, job, future, loop, long = self._next_job()
            if job is None or future is None or loop is None:
                self._hand_over()
                return
            if long and self._answers:  # nothing finished waits for a job that may take long
                self._hand_over()
            if future.cancelled():  # its caller stopped waiting before it ran: it is not run
                continue
            started = time.thread_time_ns() if TRIPS is not None else 0
            try:
                result = job()
            except BaseException as error:
                self.answer(loop, future, False, error)
            else:
                self.answer(loop, future, True, result)
            if TRIPS is not None:
                TRIPS["cpu_us:" + getattr(job, "__qualname__", type(job).__name__)] += (
                    time.thread_time_ns() - started) // 1000
            if priority == URGENT:  # a webhook's sender is waiting on it: not held for the jobs behind it
                self._hand_over()

    def _next_job(self) -> Job:
        while True:
            with self._lock:
                if self._jobs:
                    return heapq.heappop(self._jobs)
                self._waiting = True
            self._wake.acquire()  # until a job's submitter (or the kick after it) clears `_waiting`

    def answer(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        """Settle `future` on its loop with `value` (its result if `ok`, else the error it raises), handed over with
        the other answers ready. Called on this thread only (by the jobs, for futures of their own)."""
        if not self._answers:
            self._answers_since = time.perf_counter()
        self._answers.append((loop, future, ok, value))

    def _hand_over(self) -> None:
        answers, self._answers = self._answers, []
        by_loop: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
        for answer in answers:
            by_loop.setdefault(answer[0], []).append(answer)
        for loop, settled in by_loop.items():
            with self._mail_lock:
                waiting = self._mailboxes.get(loop)
                if waiting is not None:  # not yet taken: they go with the wake-up already on its way
                    waiting += settled
                    continue
                self._mailboxes[loop] = settled
            try:
                loop.call_soon_threadsafe(self._take_answers, loop)
            except RuntimeError:  # the caller's loop has closed (nobody is waiting): the thread must go on
                with self._mail_lock:
                    self._mailboxes.pop(loop, None)

    def _take_answers(self, loop: asyncio.AbstractEventLoop) -> None:
        """On `loop`: settle every answer handed over to it so far."""
        with self._mail_lock:
            answers = self._mailboxes.pop(loop, [])
        _settle_all(answers)

    def run(self, fn: Callable[[], T], priority: int = NORMAL, *, long: bool = False) -> asyncio.Future[T]:
        """Queue `fn` to run here; the future of its result, on the running loop. A plain function returning the
        future (no coroutine wrapped around it: every store call comes this way). `long`: `fn` may take long (its
        work grows with the history, or it is a batch), so the answers held are handed over before it starts."""
        if self._closed:  # nothing would ever run it: say so instead of waiting forever
            raise RuntimeError("the store is closed; no store operation can run after Bot.stop()")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if TRIPS is not None:
            TRIPS["trip:" + getattr(fn, "__qualname__", type(fn).__name__)] += 1
        self._put((priority, next(self._order), fn, future, loop, long), None if priority == URGENT else loop)
        return future

    def _put(self, job: Job, kick_on: asyncio.AbstractEventLoop | None) -> None:
        """Queue a job; wake the thread if it sleeps: at once, or (`kick_on` a loop) at the end of that loop's turn,
        with every other job queued in it."""
        with self._lock:
            heapq.heappush(self._jobs, job)
            if not self._waiting:
                return  # at work: it finds the job when it looks again
            if kick_on is not None and self._kick_on in (None, kick_on):
                if self._kick_on is None:
                    try:
                        kick_on.call_soon(self._kick)
                    except RuntimeError:  # the loop is closed: no kick would come
                        pass
                    else:
                        self._kick_on = kick_on
                        return
                else:
                    return  # this loop's kick, already due, wakes it for this job too
            # Woken now: an urgent job, a loop whose kick cannot come, or a second loop (whose own turn may end
            # before the first one's, which might never run again).
            self._waiting = False
        self._wake.release()

    def _kick(self) -> None:
        with self._lock:
            self._kick_on = None
            if not self._waiting:
                return  # woken meanwhile (an urgent job)
            self._waiting = False
        self._wake.release()

    def shutdown(self) -> None:
        """Finish the queued jobs, then stop the thread; later jobs are refused."""
        self._closed = True
        self._put((NORMAL + 1, next(self._order), None, None, None, False), None)
        self._thread.join()
        if TRIPS_FILE and TRIPS:
            with open(TRIPS_FILE, "w") as counts:
                json.dump(dict(TRIPS), counts)


def _name_native_thread(name: str) -> None:
    """Give the OS thread the store's name (Python 3.11 names only its own Thread object), so that `top -H`, py-spy
    and bench/soak.py's CPU per thread can tell the store's thread from the event loop's. Best effort: Linux only."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(libc_name).prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME (at most 15 bytes)


def _settle_all(answers: list[Answer]) -> None:
    for _, future, ok, value in answers:
        if future.done():  # cancelled meanwhile: nobody is waiting
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
