"""A dispatcher's leases on the effects it performs: held while each effect's call runs (renewed every third of the
lease), and freed early when nothing here will settle them — all of them as the dispatcher stops (`let_go`), and those
the store failed to settle (an outcome it refused, a stop it could not answer) as soon as it answers again
(`free_stranded`) — so that their effects are taken again at once, by this replica or another, rather than after the
lease's length.

What is never freed: the lease of an effect started here whose task has not ended, and any lease while a claim (until
what it took is started) or an outcome's store call is still on its way (a call its task stopped waiting for, a commit
stalled): that call may yet record the effect done, or claim further effects for this owner that nobody here knows
of. Freed then, such an effect would be claimed and done a second time outside. Those leases run out instead, or are
freed at a later look."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from bot.ports.store import Outbox, OutboxRow
from bot.services.outlasting import outlasting_cancellation, started

T = TypeVar("T")
log = logging.getLogger(__name__)


class Leases:
    """One dispatcher's (`owner`'s) leases, and the store calls that may still settle them."""

    def __init__(self, store: Outbox, owner: str, seconds: float, now: Callable[[], float]) -> None:
        self._store, self.owner, self.seconds, self._now = store, owner, seconds, now
        # Outcome store calls (done, retry, death, what a cancelled effect learnt), until they end — past the effect's
        # task, should it stop waiting for one.
        self._recording: set[asyncio.Future[Any]] = set()
        # The effects started here whose task has not ended (by seq): from the moment their claim starts them, not
        # once their task first runs — a release in between would free what is about to be performed.
        self._performing: set[int] = set()
        self.claims = Claims()  # claims under way, until what they took is started
        self._stranded = False  # leases nothing here will settle: free them at the next chance (`free_stranded`)
        # A release is under way: an outcome's claim must take nothing meanwhile (the release would free it).
        self.releasing = False
        self._freeing = asyncio.Lock()  # one release at a time, and no claim beside it (`start_due` and the loop)

    def recorded(self, call: Awaitable[T]) -> asyncio.Future[T]:
        """An outcome's store call, started, and known to be on its way until it ends."""
        return started(call, self._recording)

    def performing(self, seq: int) -> None:
        """An effect's task, started: its lease is never freed here until the task has ended (`ended`). (At most one
        task here performs an effect: this owner cannot claim it again while it holds it.)"""
        self._performing.add(seq)

    def ended(self, seq: int) -> None:
        """An effect's task has ended (its done callback)."""
        self._performing.discard(seq)

    def stranded(self) -> None:
        """The store failed to settle an effect (it refused its outcome), or to free the leases as the dispatcher
        stopped: the next `free_stranded` frees them."""
        self._stranded = True

    async def free_stranded(self) -> None:
        """Free the leases the store failed to settle, except those of effects still running here, once no outcome
        is on its way nor a claim (else at a later call). Raises while the store still fails (they stay stranded). A
        second caller (`start_due` beside the loop) waits for a release under way before it claims."""
        if not self._stranded and not self.releasing:  # (on every claim: without taking the lock)
            return
        async with self._freeing:
            if not self._stranded or self._recording or self.claims.count:
                return
            # Cleared before the release: an outcome refused while it is on its way (its effect kept) strands again.
            self._stranded, self.releasing = False, True
            try:
                released = await self._store.release_leases(self.owner, keep=sorted(self._performing))
            except BaseException:
                self._stranded = True
                raise
            finally:
                self.releasing = False
        if released:
            log.warning("resuming %d effect(s) this dispatcher (%s) performed or held when its store failed; their "
                        "executors find what was already done", released, self.owner)

    async def held_while(self, row: OutboxRow, call: Coroutine[Any, Any, None]) -> None:
        """Run the call, renewing the effect's lease every third of it so that a slow call keeps its effect. Most
        calls finish well within a third of the lease: for them only a timer is set and cancelled (a renewing task
        per effect, started, cancelled and awaited, cost more than some effects' own bookkeeping)."""
        renewing: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            self.seconds / 3, lambda: renewing.append(asyncio.create_task(self._keep_renewing(row))))
        try:
            await call
        finally:
            timer.cancel()
            for task in renewing:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _keep_renewing(self, row: OutboxRow) -> None:
        """Renew the lease now and every third of it, until cancelled (the call finished) or the lease is lost. A
        renewal the store fails (a restart, a failover) is tried again at the next third: the call goes on, its lease
        with it once the store answers (never ended here, nor the call's outcome replaced by the store's error)."""
        told = False
        while True:
            try:
                held = await self._store.renew_lease(row.seq, owner=self.owner, now=self._now(),
                                                     lease_seconds=self.seconds)
            except Exception:
                if not told:
                    log.warning("effect %s #%s: its lease could not be renewed (the store failed); tried again in "
                                "%.0fs", row.effect.kind, row.seq, self.seconds / 3, exc_info=True)
                told = True
            else:
                if not held:
                    self.lost(row)
                    return
                told = False  # (the store answering again: its next failure is said again)
            await asyncio.sleep(self.seconds / 3)

    def lost(self, row: OutboxRow) -> None:
        log.warning("effect %s #%s for %s: this replica's lease ran out and another replica took it over; its "
                    "outcome stands", row.effect.kind, row.seq, row.effect.incident_id)

    async def let_go(self, cancelled: list[asyncio.Task[None]], within: float) -> None:
        """On stopping, once the effects under way have ended and the outcomes on their way are recorded (`within`
        seconds for each, at most): free every lease this dispatcher holds, so that other replicas take its effects
        at once rather than after the lease, as this replica's own next start would. Those are the effects cancelled
        mid-call, and those an outcome's claim took as the stop came, which nobody here will start. Waited for through
        any further cancellation (Bot.stop cancels its loops again until they end): an effect still recording what it
        learnt is refused once its lease is freed, and the store is closed once the dispatcher's loop has ended."""
        if cancelled:  # each ends within `within` of its cancellation (the dispatcher's `_keep_what_was_learnt`)
            await outlasting_cancellation(asyncio.gather(*cancelled, return_exceptions=True), within + 1.0)
        if self._recording:  # an outcome its task gave up waiting for: the last chance to see it through
            await outlasting_cancellation(asyncio.gather(*self._recording, return_exceptions=True), within)
        if self._recording:
            self._stranded = True
            log.warning("stopping: an effect's outcome is still on its way to the store, so the leases of this "
                        "dispatcher (%s) are left to run out (freed now, its effect could be done twice)", self.owner)
            return
        releasing = asyncio.ensure_future(self._store.release_leases(self.owner))
        answered = await outlasting_cancellation(releasing, within)
        if not answered or releasing.exception() is not None:
            # The store is down, closed or silent: the leases run out, or are freed once the store answers again.
            releasing.cancel()  # (given up on; nothing to cancel once answered)
            self._stranded = True
            log.warning("stopping: the leases of this dispatcher (%s) could not be freed; its effects are taken over"
                        " once they run out, or resumed here once the store answers again", self.owner,
                        exc_info=releasing.exception() if answered else None)
            return
        if released := releasing.result():
            log.info("stopping: %d effect(s) under way or claimed by this dispatcher (%s) left to the other replicas",
                     released, self.owner)


class Claims:
    """Claims under way, as a context manager around each: while one runs and until what it took is started
    (`Leases.performing`), no release starts. The claim's answer may be on its way back (its store call ended, its
    caller not yet resumed): freed then, what it took would be started here all the same, and taken by another replica
    too. (A class, not a generator: it is entered around every effect's outcome.)"""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> None:
        self.count += 1

    def __exit__(self, *_: object) -> None:
        self.count -= 1
