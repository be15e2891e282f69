"""The store's one thread: runs jobs one at a time, most urgent first.

sqlite3 connections belong to the thread that made them and SQLite has one writer at a time, so every store
operation runs here. Jobs carry a priority: recording an incoming webhook (which PagerDuty is waiting on) goes ahead
of the worker's and dispatcher's bookkeeping, so a burst of effects never delays the answer to a delivery.

Every store call crosses to this thread and back, a hundred times or more per incident, so the crossing is kept
cheap: jobs wait in a heap (most urgent, then oldest, first) and the thread is woken by a token in a C-level
`SimpleQueue` (one token per job), not by a `queue.PriorityQueue`, whose pure-Python Condition costs more than most
jobs; the result goes straight to the caller's asyncio future on its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
URGENT, NORMAL = 0, 1
Job = tuple[int, int, Callable[[], Any] | None, asyncio.Future[Any] | None, asyncio.AbstractEventLoop | None]


class StoreThread:
    def __init__(self, name: str = "pavedroad-store") -> None:
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._order = itertools.count()  # first in, first out within a priority
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _loop(self) -> None:
        _name_native_thread(self._thread.name)
        while True:
            self._tokens.get()
            with self._lock:
                _, _, job, future, loop = heapq.heappop(self._jobs)
            if job is None or future is None or loop is None:
                return
            if future.cancelled():  # its caller stopped waiting before it ran: it is not run
                continue
            try:
                result = job()
            except BaseException as error:
                _answer(loop, _fail, future, error)
            else:
                _answer(loop, _resolve, future, result)

    async def run(self, fn: Callable[[], T], priority: int = NORMAL) -> T:
        if self._closed:  # nothing would ever run it: say so instead of waiting forever
            raise RuntimeError("the store is closed; no store operation can run after Bot.stop()")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((priority, next(self._order), fn, future, loop))
        return await future

    def _put(self, job: Job) -> None:
        with self._lock:
            heapq.heappush(self._jobs, job)
        self._tokens.put(None)

    def shutdown(self) -> None:
        """Finish the queued jobs, then stop the thread; later jobs are refused."""
        self._closed = True
        self._put((NORMAL + 1, next(self._order), None, None, None))
        self._thread.join()


def _name_native_thread(name: str) -> None:
    """Give the OS thread the store's name (Python 3.11 names only its own Thread object), so that `top -H`, py-spy
    and bench/soak.py's CPU per thread can tell the store's thread from the event loop's. Best effort: Linux only."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(libc_name).prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME (at most 15 bytes)


def _answer(loop: asyncio.AbstractEventLoop, settle: Callable[[asyncio.Future[Any], Any], None],
            future: asyncio.Future[Any], value: Any) -> None:
    # The caller's loop may have closed (nobody is waiting): the thread must go on.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle, future, value)


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
