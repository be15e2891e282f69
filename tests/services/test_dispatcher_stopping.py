"""The dispatcher stopping while an effect is mid-call: what the effect had learnt (a card's ts, a ticket) is recorded
before the cancellation goes on — the facts alone, the effect left pending and free for any replica — through the
further cancellations a stop sends (Bot.stop cancels its loops again until they end), and for a bounded time only
when the store does not answer.

The executor stands in for the outside world (Slack answered the card's post, then holds the pin); the store is the
real SQLite store, whose call recording a cancelled effect waits for the test (`go_on`), as a slow commit would."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.services.dispatcher as dispatching
from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import Effect
from bot.domain.effects.slack import OpenIncidentChannel, RefreshCard
from bot.metrics import Metrics
from bot.ports.store import EffectBookkeeping, IncidentInSlack, TicketRow
from bot.services.bookkeeping import follow_up, remember_footprint, remember_ticket
from bot.services.dispatcher import CANCELLED, Dispatcher
from tests.helpers import rows

TICKET = TicketRow("Q1", "sys-1", "INC1", "https://sn/1")


class SlowRecords(SqliteStore):
    """The real store, whose retry records (what a cancelled effect's record is) start only once the test lets them
    (`go_on`); `recording` says one is under way."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.file = path
        self.recording = asyncio.Event()
        self.go_on = asyncio.Event()

    async def effect_retry(self, seq: int, next_attempt_at: float, error: str, owner: str | None = None,
                           bookkeeping: EffectBookkeeping | None = None, rate_limited_at: float | None = None,
                           failed: bool = False, credentials_refused: bool = False) -> bool:
        self.recording.set()
        await self.go_on.wait()
        return await super().effect_retry(seq, next_attempt_at, error, owner=owner, bookkeeping=bookkeeping,
                                          rate_limited_at=rate_limited_at, failed=failed,
                                          credentials_refused=credentials_refused)


class SlackHoldsThePin:
    """Opening the channel: the card is posted (its ts learnt), the ticket known and the card's refresh asked for,
    then the pin never answers. With `learns=False`, nothing is learnt before the pin."""

    def __init__(self, store: SqliteStore, learns: bool = True) -> None:
        self.store, self.learns = store, learns
        self.pinning = asyncio.Event()

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        if self.learns:
            await remember_footprint(self.store, "Q1", card_ts="1.1")
            await remember_ticket(self.store, TICKET)
            await follow_up(self.store, RefreshCard("Q1"), 1_000.0)
        self.pinning.set()
        await asyncio.Event().wait()

    async def after_done(self, effect: Effect) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = SlowRecords(tmp_path / "d.db")
    await s.open()
    await s.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
    yield s
    await s.close()


def dispatcher(store: SqliteStore, world: SlackHoldsThePin) -> Dispatcher:
    return Dispatcher(store, world, SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True), Metrics(),
                      owner="stopping")


def opening(store: SlowRecords) -> dict[str, Any]:
    [row] = rows(store.file, "SELECT state, attempts, lease_owner, last_error FROM outbox WHERE kind=?",
                 ("open_incident_channel",))
    return row


async def stop_while_recording(running: asyncio.Task[None], store: SlowRecords) -> None:
    """Stop as Bot.stop does, cancelling again and again, while the cancelled effect's record is held; then let the
    record go on and wait for the loop to end."""
    running.cancel()
    recording = asyncio.ensure_future(store.recording.wait())
    await asyncio.wait({running, recording}, return_when=asyncio.FIRST_COMPLETED)
    recording.cancel()
    assert store.recording.is_set(), "the cancelled effect recorded nothing"
    for _ in range(20):
        running.cancel()
        await asyncio.sleep(0)
    assert not running.done()  # waiting for the record, whatever the cancellations
    store.go_on.set()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def test_an_effect_cancelled_after_slack_answered_records_what_it_learnt_and_stays_pending(
        store: SlowRecords) -> None:
    world = SlackHoldsThePin(store)
    running = asyncio.create_task(dispatcher(store, world).run())
    await world.pinning.wait()
    await stop_while_recording(running, store)

    assert (await store.footprint("Q1")).card_ts == "1.1"
    assert await store.ticket("Q1") == TICKET
    # Pending, its attempt counted, free for any replica at once; its follow-up is not queued (it is not done).
    assert opening(store) == {"state": "pending", "attempts": 1, "lease_owner": None, "last_error": CANCELLED}
    [again] = await store.due_effects(now=1_000.0, limit=10, busy=[])
    assert again.effect == OpenIncidentChannel("Q1")
    assert rows(store.file, "SELECT kind FROM outbox WHERE kind='refresh_card'") == []


async def test_an_effect_cancelled_before_it_learnt_anything_costs_the_store_nothing_more(store: SlowRecords) -> None:
    world = SlackHoldsThePin(store, learns=False)
    running = asyncio.create_task(dispatcher(store, world).run())
    await world.pinning.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert not store.recording.is_set()
    assert opening(store) == {"state": "pending", "attempts": 1, "lease_owner": None, "last_error": None}


async def test_a_store_that_does_not_answer_holds_the_stop_for_a_bounded_time(
        store: SlowRecords, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(dispatching, "LEARNT_RECORD_SECONDS", 0.05)
    world = SlackHoldsThePin(store)
    running = asyncio.create_task(dispatcher(store, world).run())
    await world.pinning.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running  # never let go on: the record is given up on
    assert store.recording.is_set() and not store.go_on.is_set()
    assert "the store did not record what it learnt" in caplog.text
    # The record never reached the store; the lease is freed all the same, and the next attempt finds the card again.
    assert (await store.footprint("Q1")).card_ts is None
    assert opening(store) == {"state": "pending", "attempts": 1, "lease_owner": None, "last_error": None}


class SlowOutcomes(SlowRecords):
    """As SlowRecords, for the record of an effect's outcome (done, and the claim after it)."""

    async def effect_done_then_claim(self, seq: int, **kwargs: Any) -> Any:
        self.recording.set()
        await self.go_on.wait()
        return await super().effect_done_then_claim(seq, **kwargs)


class SlackAnswers:
    """Opening the channel: the card is posted (its ts learnt) and its refresh asked for; the effect is done."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        await remember_footprint(self.store, "Q1", card_ts="1.1")
        await follow_up(self.store, RefreshCard("Q1"), 1_000.0)

    async def after_done(self, effect: Effect) -> None:
        return None


async def test_a_stop_while_an_outcome_is_recorded_records_it_all_the_same(tmp_path: Path) -> None:
    """The effect was done outside; a stop landing as its outcome is being written must not lose the outcome (the
    effect would be done again after the restart), nor start what the outcome's claim took."""
    store = SlowOutcomes(tmp_path / "d.db")
    await store.open()
    try:
        await store.queue_effect(OpenIncidentChannel("Q1"), now=1_000.0)
        running = asyncio.create_task(Dispatcher(
            store, SlackAnswers(store), SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True), Metrics(),
            owner="stopping").run())
        await store.recording.wait()  # the outcome is being recorded: the stop comes now, again and again
        for _ in range(20):
            running.cancel()
            await asyncio.sleep(0)
        assert not running.done()
        store.go_on.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        assert opening(store) == {"state": "done", "attempts": 1, "lease_owner": None, "last_error": None}
        assert (await store.footprint("Q1")).card_ts == "1.1"
        # Its follow-up is queued, and left free for any replica: claimed as the stop came, it was not started.
        assert rows(store.file, "SELECT state, attempts, lease_owner FROM outbox WHERE kind='refresh_card'") == [
            {"state": "pending", "attempts": 1, "lease_owner": None}]
    finally:
        await store.close()


class StrayCancellation:
    """An executor whose call raises CancelledError though nobody cancelled the effect (a library's bug)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def perform(self, effect: Effect, *, retry: bool, created_at: float,
                      found: IncidentInSlack | None = None) -> None:
        self.called.set()
        raise asyncio.CancelledError

    async def after_done(self, effect: Effect) -> None:
        return None


async def test_a_cancelled_error_nobody_sent_is_a_failure_retried_with_backoff_not_a_stop(store: SlowRecords) -> None:
    store.go_on.set()  # its retry is recorded at once
    world = StrayCancellation()
    running = asyncio.create_task(Dispatcher(
        store, world, SettableClock(datetime.fromtimestamp(1_000, UTC), frozen=True), Metrics(),
        owner="stray").run())
    try:
        await world.called.wait()
        for _ in range(100):  # the failure's record, on the store's thread
            if opening(store)["last_error"]:
                break
            await asyncio.sleep(0.01)
        row = opening(store)
        assert row["state"] == "pending" and row["lease_owner"] is None
        assert row["last_error"].startswith("unexpected CancelledError (reference ")
        [(due,)] = [tuple(r.values()) for r in rows(store.file, "SELECT next_attempt_at FROM outbox")]
        assert due > 1_000.0  # backed off, not due again at once
        assert not running.done()  # the dispatcher goes on
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
