"""What an effect records at once while it is performed knows which effect it is and which replica holds it
(`holding`): the handover's post is recorded only while that replica still holds the effect's lease (`save_post`,
tests/store/contract/test_handover_ledger.py). Before, nothing told the executor, and `save_post` never asked.

The executor is a stand-in for the outside world, not for the dispatcher; the store is the real one (the services'
conftest's: one triggered incident's effects queued)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.metrics import Metrics
from bot.ports.handover_ledger import EffectHolder
from bot.ports.store import IncidentInSlack
from bot.services.bookkeeping import holding
from bot.services.dispatcher import Dispatcher, RetryPolicy
from tests.e2e.sandbox_helpers import eventually
from tests.helpers import rows


class World:
    """Records, for each effect performed, who the dispatcher said holds it."""

    def __init__(self) -> None:
        self.held_by: list[tuple[str, EffectHolder | None]] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.held_by.append((effect.kind, holding()))

    async def after_done(self, effect: Effect) -> None:
        pass


async def test_an_effect_performed_knows_its_seq_and_the_replica_holding_it(store: SqliteStore,
                                                                            db_path: Path) -> None:
    world = World()
    clock = SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True)
    dispatcher = Dispatcher(store, world, clock, Metrics(), RetryPolicy(max_attempts=3), rng=random.Random(7),
                            owner="replica-a", concurrency=1)
    started = await dispatcher.start_due()
    assert started >= 1
    await eventually(lambda: len(world.held_by) >= started)  # (and those the first's outcome claimed)
    for kind, holder in world.held_by:
        assert holder is not None and holder.owner == "replica-a"
        [row] = rows(db_path, "SELECT kind FROM outbox WHERE seq=?", (holder.seq,))
        assert row["kind"] == kind  # the very effect being performed
    assert holding() is None  # outside an effect: nobody's
