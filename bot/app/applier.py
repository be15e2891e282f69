"""The applier in its own process (PAVEDROAD_APPLIER=process): the worker that applies the inbox runs in a child
process of `pavedroad serve`, on its own connection to the same store, so that applying a burst and storing it do not
share one Python interpreter's CPU (its GIL).

Why it is safe: the store already lets several processes apply one inbox (replicas do): a batch is read, decided and
marked applied under one lock (SQLite's write lock; PostgreSQL's advisory lock), so moving the worker to another
process changes nothing the store guarantees. What the two processes share beyond the store is only wake-ups, over a
pair of pipes (`Doorbell`): the web process rings the applier when it stores a delivery; the applier rings back when a
batch queued effects (the dispatcher stays in the web process) and, once a second while its loop goes round, as its
heartbeat (for /readyz). A ring is one byte written without blocking: a full pipe already holds a ring, and a missed
ring costs at most the worker's one-second poll.

Lifetimes: the web process supervises the applier like any loop (restarted a second after it exits, logged); the
applier exits when its pipe from the web process closes, so a web process killed with SIGKILL leaves no applier
behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.app.supervisor import supervise
from bot.catalogue import Catalogue

if TYPE_CHECKING:
    from bot.app.config import Settings
    from bot.ports import Clock

log = logging.getLogger(__name__)
WAKE_WORKER = b"w"
WAKE_DISPATCHER = b"d"
HEARTBEAT = b"h"
HEARTBEAT_SECONDS = 1.0
# How long a stopping web process waits for its applier to finish the batch in hand before ending it.
STOP_SECONDS = 5.0


class Doorbell:
    """One end of a pipe between the bot's processes. `ring` writes a byte without ever blocking; `listen` calls
    `on_ring` with the bytes that arrived, and `on_closed` once the other end is gone (its process ended)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)
        self._listening = False

    def ring(self, signal: bytes) -> None:
        try:
            os.write(self._fd, signal)
        except BlockingIOError:  # the other side has rings it has not read yet: it will look
            pass
        except OSError:  # the other side is gone; its supervisor restarts it, and it drains what was stored
            pass

    def listen(self, on_ring: Callable[[bytes], None], on_closed: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                signals = os.read(self._fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                signals = b""
            if not signals:
                self._stop_listening(loop)
                on_closed()
                return
            on_ring(signals)
        loop.add_reader(self._fd, readable)
        self._listening = True

    def _stop_listening(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._listening:
            loop.remove_reader(self._fd)
            self._listening = False

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._stop_listening(asyncio.get_running_loop())
        with contextlib.suppress(OSError):
            os.close(self._fd)


class ApplierProcess:
    """The web process's side: starts the applier, rings it for each delivery stored, wakes the dispatcher when it
    rings back, and keeps its heartbeat. `run` is a loop for `supervise`: it returns (raises) when the process ends."""

    def __init__(self, settings: Settings, catalogue: Catalogue, replica_id: str, clock: Clock,
                 wake_dispatcher: Callable[[], None]) -> None:
        self._settings, self._catalogue, self._replica_id = settings, catalogue, replica_id
        self._clock, self._wake_dispatcher = clock, wake_dispatcher
        self._doorbell: Doorbell | None = None
        self.heartbeat = 0.0
        self.pid: int | None = None

    def wake(self) -> None:
        if self._doorbell is not None:
            self._doorbell.ring(WAKE_WORKER)

    def _rang(self, signals: bytes) -> None:
        # Any ring means the applier's loop went round (it rings only after a drain).
        self.heartbeat = self._clock.now().timestamp()
        if WAKE_DISPATCHER in signals:
            self._wake_dispatcher()

    async def run(self) -> None:
        # A fresh interpreter (`python -m bot.app.applier`), not a fork: the web process has an event loop, threads
        # and open connections a fork would copy; and not multiprocessing's spawn, which re-runs the caller's main
        # module. The settings and catalogue go over its stdin (never argv or the environment: they hold secrets).
        from_web, to_applier = os.pipe()
        from_applier, to_web = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.app.applier", str(from_web), str(to_web), stdin=subprocess.PIPE,
                pass_fds=(from_web, to_web), env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))})
        except BaseException:
            # Not started (no interpreter at sys.executable, no file descriptors left): the supervisor tries again
            # in a second, so nothing of this attempt may stay open.
            os.close(to_applier)
            os.close(from_applier)
            raise
        finally:
            # The child holds its own copies: closing ours lets each side see the other end close when it exits.
            os.close(from_web)
            os.close(to_web)
        try:
            assert process.stdin is not None
            # Its log at this process's level (LOG_LEVEL as configured, or as a host program set it).
            level = logging.getLevelName(logging.getLogger("bot").getEffectiveLevel())
            process.stdin.write(pickle.dumps((replace(self._settings, log_level=level), self._catalogue,
                                              self._replica_id)))
            process.stdin.close()
        except BaseException:
            os.close(to_applier)
            os.close(from_applier)
            if process.returncode is None:
                process.kill()
            await _reap(process)
            raise
        self.pid = process.pid
        doorbell, replies = Doorbell(to_applier), Doorbell(from_applier)
        ended = asyncio.Event()
        replies.listen(self._rang, ended.set)
        self._doorbell = doorbell
        doorbell.ring(WAKE_WORKER)  # drain what was stored while no applier ran
        try:
            await ended.wait()
        finally:
            self._doorbell = None
            doorbell.close()  # the applier sees its pipe close and stops after the batch in hand
            replies.close()
            await _reap(process)
        raise RuntimeError(f"the applier process {process.pid} exited (code {process.returncode})")


class Applier:
    """The applier process's loop: the worker's drains, run so that the web process gets the store's write lock.

    In one process the store's thread takes the web process's deliveries first and applies between them. Across two
    processes nothing orders them: on SQLite a writer that finds the lock taken sleeps (1, 2, 5, 10… ms) and tries
    again, and an applier that went straight on with batch after batch of a few rows each (each its own commit and
    disk flush) would hold the lock almost all the time while webhooks wait for it. So after a batch of only a few
    rows the applier waits `GATHER_SECONDS` for more to be stored, and applies them together: fewer, larger batches
    (fewer commits, each a disk flush), the lock free in between; an event that follows another within that time
    waits that much longer at most (one after a quiet spell is applied at once). A batch of `BACKLOG_ROWS` or more
    (a backlog) is followed straight away by the next. 100 ms, not 20: on SQLite, in alternating runs of the burst
    bench, webhooks were stored at 284 and 673 /s against 214 and 304 /s, with less CPU per event.
    """

    GATHER_SECONDS = 0.1
    BACKLOG_ROWS = 16
    IDLE_SECONDS = 1.0

    def __init__(self, drain: Callable[[], Awaitable[int]], now: Callable[[], float]) -> None:
        self._drain, self._now = drain, now
        self._wake = asyncio.Event()
        self.heartbeat = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()  # before the drain: a delivery stored during it wakes the next at once
            handled = await self._drain()
            self.heartbeat = self._now()
            if handled >= self.BACKLOG_ROWS:
                continue
            if handled:
                await asyncio.sleep(self.GATHER_SECONDS)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.IDLE_SECONDS):
                    await self._wake.wait()


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for the applier to end (told by its pipe closing), killing it after STOP_SECONDS. Waited for to the end
    even while being cancelled (the bot's stop() cancels its loops again and again until they end): no applier is
    left running, or unreaped, behind a stopped bot. A cancellation is passed on once it has ended."""
    reaping = asyncio.ensure_future(_wait_or_kill(process))
    cancelled = False
    while not reaping.done():
        try:
            await asyncio.shield(reaping)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def _wait_or_kill(process: asyncio.subprocess.Process) -> None:
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await process.wait()
    except TimeoutError:
        log.warning("the applier process %d did not stop within %.0fs of being told; ending it", process.pid,
                    STOP_SECONDS)
        process.kill()
        await process.wait()


def serve_applier(wakes: int, replies: int) -> None:
    """The applier process's entry point: the worker on its own store connection until the web process goes."""
    from bot.app.cli.main import configure_logging  # here: the CLI is not needed until the process starts

    settings, catalogue, replica_id = pickle.load(sys.stdin.buffer)
    configure_logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group: the web process stops it
        asyncio.run(_apply_until_closed(settings, catalogue, replica_id, wakes, replies))


async def _apply_until_closed(settings: Settings, catalogue: Catalogue, replica_id: str, wakes: int,
                              replies: int) -> None:
    from bot.app.runtime import Bot  # here: runtime builds this module's ApplierProcess

    web = Doorbell(replies)
    bot = Bot(replace(settings, applier="inline"), catalogue, replica_id=replica_id,
              wake_dispatcher=lambda: web.ring(WAKE_DISPATCHER))
    await bot.store.open()
    closed = asyncio.Event()
    applier = Applier(bot.worker.drain, lambda: bot.clock.now().timestamp())
    doorbell = Doorbell(wakes)
    doorbell.listen(lambda _signals: applier.wake(), closed.set)
    worker = asyncio.create_task(supervise("worker", applier.run, lambda: applier.heartbeat))

    async def beat() -> None:
        told = 0.0
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if applier.heartbeat != told:
                told = applier.heartbeat
                web.ring(HEARTBEAT)
    beating = asyncio.create_task(beat())
    log.info("applier process %d applying the inbox for %s", os.getpid(), replica_id)
    try:
        await closed.wait()
    finally:
        for task in (beating, worker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        doorbell.close()
        web.close()
        await bot.stop()


if __name__ == "__main__":
    from bot.app.applier import serve_applier as serve  # under its own name, so its log lines say bot.app.applier

    serve(int(sys.argv[1]), int(sys.argv[2]))
