"""The store's one thread: runs jobs one at a time, most urgent first.

sqlite3 connections belong to the thread that made them and SQLite has one writer at a time, so every store
operation runs here. Jobs carry a priority: recording an incoming webhook (which PagerDuty is waiting on) goes ahead
of the worker's and dispatcher's bookkeeping, so a burst of effects never delays the answer to a delivery.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
URGENT, NORMAL = 0, 1


class StoreThread:
    def __init__(self, name: str = "store") -> None:
        self._jobs: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any] | None]] = \
            queue.PriorityQueue()
        self._order = itertools.count()  # first in, first out within a priority
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _loop(self) -> None:
        while True:
            _, _, job, future = self._jobs.get()
            if job is None or future is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as error:
                future.set_exception(error)

    async def run(self, fn: Callable[[], T], priority: int = NORMAL) -> T:
        if self._closed:  # nothing would ever run it: say so instead of waiting forever
            raise RuntimeError("the store is closed; no store operation can run after Bot.stop()")
        future: Future[T] = Future()
        self._jobs.put((priority, next(self._order), fn, future))
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        """Finish the queued jobs, then stop the thread; later jobs are refused."""
        self._closed = True
        self._jobs.put((NORMAL + 1, next(self._order), None, None))
        self._thread.join()
