"""What the emulators' webhook senders share: one queue and one task, so deliveries arrive in the order they were
made, and one POST to the receiver (`_attempt`) that reads its answer as both senders do; the sender's own retry
rules are in its `_deliver` (PagerDuty's and ServiceNow's differ; this does not)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, Protocol, TypeVar

import aiohttp


class Tracked(Protocol):
    status: str
    error: str | None
    http_status: int | None


D = TypeVar("D", bound=Tracked)


class OrderedSender(Generic[D]):
    """Queues (delivery, body) pairs and sends them one at a time to `url`. Create it anywhere: the task starts on
    first use. `REFUSED` is the sender's own word for a delivery the receiver refused for good (a 4xx but 429)."""

    REFUSED = "refused"

    def __init__(self, name: str, timeout_seconds: float) -> None:
        self._name = name
        self.timeout_seconds = timeout_seconds
        self.url: str | None = None
        self._queue: asyncio.Queue[tuple[D, bytes]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def _put(self, delivery: D, body: bytes) -> None:
        self._ensure_queue().put_nowait((delivery, body))
        self._ensure_task()

    async def drain(self) -> None:
        """Wait until everything queued so far has been delivered, refused or given up on."""
        if self._queue is None:
            return
        self._ensure_task()
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        # A new loop may use this sender later (tests): queues are bound to the loop that created them.
        self._queue = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_seconds))
        return self._session

    def _ensure_queue(self) -> asyncio.Queue[tuple[D, bytes]]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)
            except RuntimeError:  # no loop yet (a sync caller): drain() starts it
                self._task = None

    async def _run(self) -> None:
        queue = self._ensure_queue()
        while True:
            delivery, body = await queue.get()
            try:
                await self._deliver(delivery, body)
            except Exception as error:  # one bad delivery must not stop the only sender, and so every later one
                delivery.status, delivery.error = "failed", f"{type(error).__name__}: {error}"
            finally:
                queue.task_done()

    async def _deliver(self, delivery: D, body: bytes) -> None:
        raise NotImplementedError

    async def _attempt(self, delivery: D, body: bytes, headers: dict[str, str]) -> bool:
        """One POST to `url`; True if the sender would try again (no answer in time, 5xx or 429)."""
        assert self._session is not None and self.url is not None
        try:
            async with self._session.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
                delivery.http_status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            delivery.error = f"{type(error).__name__}: {error}"
            return True
        delivery.error = None
        if 200 <= response.status < 300:
            delivery.status = "delivered"
            return False
        if response.status == 429 or response.status >= 500:
            return True
        delivery.status = self.REFUSED
        return False
