"""The store's retention port: forgetting the bookkeeping that has served its purpose, so the store's size is bounded
by what the retention window holds plus the history (incidents, timelines, tickets, handovers), which is kept.

A store port like those of bot/ports/store.py (`Store` includes it), kept in a module of its own so that one stays
one page.
"""

from __future__ import annotations

from typing import Protocol

# The tables `StoreRetention.prune` prunes, in the order its answer names them.
PRUNED_TABLES = ("inbox", "outbox", "seen_once", "job_runs", "rate_buckets")


class StoreRetention(Protocol):
    async def prune(self, *, settled_before: float, now: float, limit: int) -> dict[str, int]:
        """Delete one batch, in one transaction, of at most `limit` rows of each of:
        - inbox: deliveries applied or ignored, received before `settled_before`;
        - outbox: effects done, queued before `settled_before`;
        - seen_once: keys whose window ended by `now`;
        - job_runs: claims made more than an hour before `now` (a slot that old is never claimed again);
        - rate_buckets: buckets untouched for an hour before `now` (refilled by now: one new bucket is the same).
        A delivery's age is its received time, which the store writes by its own (wall) clock; an effect's is the
        caller's `now` when it was queued. In production the two agree; the sandbox's clock may be moved, and its
        deliveries are then judged by the wall clock (never pruned sooner than they would be).
        Never a delivery pending or quarantined ('failed'), nor an effect pending (leased or not) or dead: they are
        work still to do, or to look at. Incidents, timelines, tickets, footprints and handovers are never pruned.
        Returns the rows deleted per table of PRUNED_TABLES (0 included); a table with `limit` rows deleted may have
        more to prune, so the caller asks again (each batch short, so that other work goes between batches)."""
        ...
