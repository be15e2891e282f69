"""What /readyz reports: whether this replica can serve now, read from the store within a time limit.

Ready means the store answers and the worker and dispatcher loops go round. The store's checks are held to
`CHECK_SECONDS`, inside the Kubernetes probe's own timeout (deploy/kubernetes/deployment.yaml: 5 s): a database
that accepts connections and then never answers gives "not ready" in bounded time rather than a probe that hangs
(which Kubernetes counts as a failure without a reason). At most one round of checks is in flight: probes that come
while it hangs wait on the same round, so a hung database does not pile up a query per probe.

Quarantined deliveries and dead effects are listed (the latest few of each, with how many more there are), but
never make the bot unready: they are past failures, and taking the bot out of service would stop intake, which
they never do. Nor do the rows this replica leaves for a newer version (`left_for_newer_version`: effects and inbox
records it cannot read, what a rolling upgrade leaves for a while; see the README's "Rolling upgrades"): it serves
everything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bot.ports.store import Store

# Above the PostgreSQL store's own wait for a connection (3 s), whose error names the cause better than a time
# limit can; below the probe's timeout (5 s), so the probe gets our answer rather than none.
CHECK_SECONDS = 4.0
# /readyz lists this many of the latest quarantined deliveries (`pavedroad inbox failed` lists them all)...
FAILED_SHOWN = 5
# ...and of the latest dead effects: a long outage can park thousands, and the probe's answer must stay small.
DEAD_SHOWN = 20

_DEAD_FIELDS = ("seq", "incident_id", "kind", "last_error")


class Readiness:
    def __init__(self, store: Store, *, within: float = CHECK_SECONDS) -> None:
        self._store = store
        self._within = within
        self._round: asyncio.Task[dict[str, Any]] | None = None

    async def report(self, loops: Mapping[str, bool]) -> dict[str, object]:
        """The /readyz body; `loops` says which background loops go round."""
        if self._round is None or self._round.done():
            self._round = asyncio.create_task(self._read_store())
            self._round.add_done_callback(_retrieved)
        # asyncio.wait, not a timeout around the await: it neither cancels the round (whose cancellation may itself
        # wait on the database) nor lets one probe's cancellation end the round another probe waits on.
        done, _ = await asyncio.wait({self._round}, timeout=self._within)
        if not done:
            return {"ready": False, "store": f"no answer within {self._within:g}s"}
        try:
            store = self._round.result()
        except Exception as error:  # the store is unreachable: say so rather than fail the probe handler
            return {"ready": False, "store": f"unreachable: {error.__class__.__name__}"}
        dead_total = store["depths"]["outbox_dead"]
        return {"ready": store["ok"] and all(loops.values()), "store": "ok" if store["ok"] else "failing",
                "loops": dict(loops), **store["depths"],
                "failed_deliveries": [{"reference": f.reference, "received_at": f.received_at, "source": f.source,
                                       "event_type": f.event_type, "incident_id": f.incident_id, "reason": f.reason}
                                      for f in store["failed"]],
                "dead_effects": [{k: d[k] for k in _DEAD_FIELDS} for d in store["dead"]],
                # Counted apart from the list and a moment before it: never below zero.
                "dead_effects_not_shown": max(0, dead_total - len(store["dead"])),
                "left_for_newer_version": store["left"]}

    async def _read_store(self) -> dict[str, Any]:
        ok = await self._store.ping()
        depths = await self._store.depths()
        failed = await self._store.failed_deliveries(FAILED_SHOWN)
        dead = await self._store.dead_effects(latest=DEAD_SHOWN)
        left = await self._store.left_for_newer_version()
        return {"ok": ok, "depths": depths, "failed": failed, "dead": dead, "left": left}


def _retrieved(round_: asyncio.Task[dict[str, Any]]) -> None:
    """A round that failed after every probe stopped waiting has its error read here, not reported by asyncio as
    never retrieved."""
    if not round_.cancelled():
        round_.exception()
