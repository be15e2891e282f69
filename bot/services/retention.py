"""Retention: the scheduled job that keeps the store's size bounded (`retention.days` in the catalogue).

The inbox and the outbox are bookkeeping: once a delivery is applied (or ignored) and an effect done, what they
meant lives on in the incident, its timeline, its ticket and its Slack footprint — the history, which is kept. So
settled rows older than the retention window are pruned, with the expired Slack dedup keys, the scheduled jobs'
old slot claims and idle rate buckets. Pending, quarantined and dead rows are never pruned (see the StoreRetention
port): they are work still to do, or for an operator to look at.

What an applied inbox row still does: its delivery and event ids make a copy sent again a duplicate. PagerDuty
retries a webhook for hours, not weeks, and ServiceNow's business rule and Slack's retries sooner still, so a copy of
a delivery older than the window never comes; were one to come, it would be applied as an old event (the newest
snapshot wins, its timeline line is there already). The status-update reminders rely on it more closely: a
reminder is recorded again at every check of its interval (`bot/services/toolkit.py`), so rows are kept at least two
reminder intervals, whatever `retention.days` says.

The job prunes in batches of `BATCH` rows a table, each batch one short transaction, pausing between them so that
intake, the worker and the dispatcher are never held up for long, until a batch finds less than a full one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from bot.catalogue import Catalogue
from bot.metrics import Metrics
from bot.ports import Clock
from bot.ports.retention import PRUNED_TABLES, StoreRetention

log = logging.getLogger(__name__)
BATCH = 500
# Between batches: room for the other work on the store (the SQLite store runs one thing at a time).
PAUSE_SECONDS = 0.02
DAY_SECONDS = 86_400.0


def kept_seconds(catalogue: Catalogue) -> float:
    """How long settled rows are kept: `retention.days`, and never less than two reminder intervals."""
    return max(catalogue.retention.days * DAY_SECONDS, 2 * 60 * catalogue.status_updates.remind_after)


class Retention:
    def __init__(self, store: StoreRetention, catalogue: Catalogue, clock: Clock, metrics: Metrics | None = None,
                 *, batch: int = BATCH, pause_seconds: float = PAUSE_SECONDS) -> None:
        self._store, self._catalogue, self._clock, self._metrics = store, catalogue, clock, metrics
        self._batch, self._pause = batch, pause_seconds

    async def prune(self) -> dict[str, int]:
        """The scheduled job: prune what is past retention now; the rows pruned per table."""
        now = self._clock.now().timestamp()
        return await self.prune_settled_before(now - kept_seconds(self._catalogue), now)

    async def prune_settled_before(self, settled_before: float, now: float) -> dict[str, int]:
        """Prune, batch after batch, the rows settled before `settled_before` (and what has expired by `now`);
        one log line for the run; the rows pruned per table."""
        started, batches = time.monotonic(), 0
        pruned: Counter[str] = Counter({table: 0 for table in PRUNED_TABLES})
        while True:
            batch = await self._store.prune(settled_before=settled_before, now=now, limit=self._batch)
            batches += 1
            pruned.update(batch)
            if self._metrics is not None:
                for table, rows in batch.items():
                    if rows:
                        self._metrics.pruned_rows.labels(table).inc(rows)
            if max(batch.values(), default=0) < self._batch:
                break
            await asyncio.sleep(self._pause)
        log.info("retention: pruned %s in %d batch(es), %.1f s (rows settled more than %.1f days ago)",
                 ", ".join(f"{pruned[t]} {t}" for t in PRUNED_TABLES), batches, time.monotonic() - started,
                 (now - settled_before) / DAY_SECONDS)
        return dict(pruned)
