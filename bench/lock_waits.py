"""Who waits for the outbox's QUEUES_LOCK (bot/adapters/store/postgres/outbox.py, "Lock order"), and for how long:
a thread samples pg_locks every few milliseconds for advisory locks not granted, and keeps, per wait (a backend and when
its wait began, `waitstart`), the longest it was seen waiting — each wait's length to within a sample. A wait is the
applier's (inbox_applying.py: `pg_advisory_xact_lock($1)`, the key a parameter) or an outcome's or the scheduler's
(outbox.py's TAKE_QUEUES_LOCK, the key written in the statement); waits for one queue's lock (migration 15's two-key
lock) are counted apart. And who held QUEUES_LOCK, for how long (from its transaction's start: the lock is taken first):
a transaction seen running an inbox statement is the applier's. Figures are JSON keys: waits (holds), and
p50/p99/max/total milliseconds, per waiter (holder).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from bench.common import summary
from bot.adapters.store.postgres.outbox import QUEUES_LOCK

# Advisory locks of one bigint key have objsubid 1; of two int keys (a queue's, `(1869, hashtext(queue))`), 2.
WAITING = ("SELECT l.pid, l.waitstart, l.objsubid, a.query,"
           " extract(epoch FROM clock_timestamp() - l.waitstart) AS waited"
           " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
           " WHERE l.locktype = 'advisory' AND NOT l.granted AND l.waitstart IS NOT NULL")

# Who holds QUEUES_LOCK (its key's low 32 bits are objid), each transaction with the statements seen running in it.
HOLDING = ("SELECT a.pid, a.xact_start, a.query, extract(epoch FROM clock_timestamp() - a.xact_start) AS held"
           " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
           f" WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.objid = {QUEUES_LOCK & 0xFFFFFFFF}")


def waiter(objsubid: int, query: str) -> str:
    if objsubid == 2:
        return "queue_lock"
    return "applier" if "$1" in query else "outcome_or_scheduler"


class LockWaits:
    """Sample in a thread from `start()` until `stop()`, which returns the figures. With `probe_every_s`, another
    thread plays an effect's outcome that takes the lock that often (a transaction that takes it and commits: what
    a ticket outcome waits before it writes anything) and the figures say how long each waited (`outcome_probe`)."""

    def __init__(self, url: str, every_s: float = 0.002, probe_every_s: float | None = None) -> None:
        self._url, self._every, self._probe_every = url, every_s, probe_every_s
        self._probes: list[float] = []
        self._prober = threading.Thread(target=self._probe, daemon=True)
        self._waits: dict[tuple[int, Any], tuple[str, float]] = {}
        self._holds: dict[tuple[int, Any], tuple[bool, float]] = {}  # (an inbox statement seen, seconds held)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> LockWaits:
        self._thread.start()
        if self._probe_every is not None:
            self._prober.start()
        return self

    def _probe(self) -> None:
        assert self._probe_every is not None
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stopping.is_set():
                started = time.perf_counter()
                with conn.transaction():
                    conn.execute(f"SELECT pg_advisory_xact_lock({QUEUES_LOCK})")
                self._probes.append(time.perf_counter() - started)
                time.sleep(self._probe_every)

    def _sample(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stopping.is_set():
                for pid, since, objsubid, query, waited in conn.execute(WAITING).fetchall():
                    key = (pid, since)
                    longest = max(float(waited), self._waits.get(key, ("", 0.0))[1])
                    self._waits[key] = (waiter(objsubid, query or ""), longest)
                for pid, since, query, held in conn.execute(HOLDING).fetchall():
                    inbox, longest = self._holds.get((pid, since), (False, 0.0))
                    self._holds[(pid, since)] = (inbox or "inbox" in (query or ""), max(longest, float(held)))
                time.sleep(self._every)

    def stop(self) -> dict[str, Any]:
        self._stopping.set()
        self._thread.join()
        if self._probe_every is not None:
            self._prober.join()
        by_waiter: dict[str, list[float]] = {}
        for who, waited in self._waits.values():
            by_waiter.setdefault(who, []).append(waited)
        held: dict[str, list[float]] = {}
        for inbox, seconds in self._holds.values():
            held.setdefault("held_by_applier" if inbox else "held_by_outcome_or_scheduler", []).append(seconds)
        return {**{f"waited_by_{who}": {**summary(waits), "total_ms": round(sum(waits) * 1000, 1)}
                   for who, waits in sorted(by_waiter.items())},
                **{who: {**summary(holds), "total_ms": round(sum(holds) * 1000, 1)}
                   for who, holds in sorted(held.items())},
                **({"outcome_probe": summary(self._probes)} if self._probes else {})}
