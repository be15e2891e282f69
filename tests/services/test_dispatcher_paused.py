"""A paused lane (Slack refusing the bot's token: bot/app/runtime.py's `paused`) takes nothing new, against the real
store: not by the loop's claim, nor by the claim that follows an effect finishing in it — the effects under way as
the pause came end as they end, and what waits behind them waits for the lane to go on.

The executor stands in for Slack: its first call is where the token is seen refused (another call's answer, an
event) while it still goes through itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.slack import RefreshCard
from bot.metrics import Metrics
from bot.ports.store import IncidentInSlack
from bot.services.dispatcher import Dispatcher

START = 1_000.0


class RefusedWhileUnderWay:
    def __init__(self) -> None:
        self.paused = False
        self.performed: list[str] = []

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.performed.append(effect.incident_id)
        self.paused = True  # the token refused meanwhile: the lane pauses as this call ends

    async def after_done(self, effect: Effect) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "d.db")
    await s.open()
    yield s
    await s.close()


async def test_an_effect_ending_in_a_paused_lane_claims_nothing_more_in_it(store: SqliteStore) -> None:
    for incident in ("Q1", "Q2"):
        await store.queue_effect(RefreshCard(incident), now=START)
    slack = RefusedWhileUnderWay()
    d = Dispatcher(store, slack, SettableClock(datetime.fromtimestamp(START + 1, UTC), frozen=True), Metrics(),
                   concurrency=1, paused=lambda lane: lane == "slack" and slack.paused)
    assert await d.start_due() == 1
    await d.finish_in_flight()  # and what its outcome's claim started
    assert len(slack.performed) == 1
    assert await d.start_due() == 0  # the loop's claim leaves it too
    slack.paused = False  # the token accepted again: the lane goes on
    assert await d.start_due() == 1
    await d.finish_in_flight()
    assert sorted(slack.performed) == ["Q1", "Q2"]
