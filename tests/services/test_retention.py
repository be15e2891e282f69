"""The retention job (bot/services/retention.py) over a real store: it prunes batch after batch until a batch finds
less than a full one, counts what it pruned in the metrics, logs one line per run, and keeps settled rows at least
two status-update reminder intervals whatever `retention.days` says (the reminders' exactly-once is the inbox's)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import Catalogue
from bot.catalogue_response import RetentionPolicy, StatusUpdates
from bot.domain.effects import AlertOperators
from bot.metrics import Metrics
from bot.services.retention import Retention, kept_seconds

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "bot.db")
    await opened.open()
    yield opened
    await opened.close()


async def done_effects(store: SqliteStore, count: int, at: datetime) -> None:
    for n in range(count):
        await store.queue_effect(AlertOperators("operators", f"alert {n}"), now=at.timestamp())
        [row] = await store.due_effects(now=at.timestamp(), limit=10, busy=[])
        await store.effect_done(row.seq)


async def test_the_job_prunes_in_batches_until_none_is_full_counts_and_logs_once(
        store: SqliteStore, catalogue: Catalogue, caplog: pytest.LogCaptureFixture) -> None:
    clock, metrics = SettableClock(START, frozen=True), Metrics()
    await done_effects(store, 5, START)
    await done_effects(store, 1, START + timedelta(days=2))
    retention = Retention(store, catalogue, clock, metrics, batch=2, pause_seconds=0)
    clock.advance(timedelta(days=31))
    with caplog.at_level(logging.INFO, logger="bot.services.retention"):
        pruned = await retention.prune()
    assert pruned["outbox"] == 5  # the one queued two days later is within the 30 days
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.services.retention"]
    assert "5 outbox" in line and "in 3 batch(es)" in line
    assert 'pavedroad_store_pruned_rows_total{table="outbox"} 5.0' in metrics.render().decode()
    clock.advance(timedelta(days=2))
    assert (await retention.prune())["outbox"] == 1


def test_rows_are_kept_retention_days_and_at_least_two_reminder_intervals(catalogue: Catalogue) -> None:
    assert kept_seconds(catalogue) == 30 * 86_400
    short = catalogue.model_copy(update={"retention": RetentionPolicy(days=1)})
    assert kept_seconds(short) == 86_400
    # Reminders every 2 days: a reminder is recorded again all through its interval, so its row must outlive it.
    slow = short.model_copy(update={"status_updates": StatusUpdates(remind_after=2 * 1440)})
    assert kept_seconds(slow) == 4 * 86_400


async def test_a_reminder_interval_longer_than_retention_keeps_its_rows(store: SqliteStore,
                                                                       catalogue: Catalogue) -> None:
    slow = catalogue.model_copy(update={"retention": RetentionPolicy(days=1),
                                        "status_updates": StatusUpdates(remind_after=2 * 1440)})
    clock = SettableClock(START, frozen=True)
    await done_effects(store, 1, START)
    retention = Retention(store, slow, clock)
    clock.advance(timedelta(days=3))
    assert (await retention.prune())["outbox"] == 0
    clock.advance(timedelta(days=2))
    assert (await retention.prune())["outbox"] == 1


def test_every_tables_pruned_count_is_shown_before_the_first_prune() -> None:
    """Found by a newcomer (session 21): /metrics had no pavedroad_store_pruned_rows_total until the first hourly
    prune, so an alert on it could not tell "nothing pruned yet" from "not running"."""
    shown = Metrics().render().decode()
    for table in ("inbox", "outbox", "seen_once", "job_runs", "rate_buckets"):
        assert f'pavedroad_store_pruned_rows_total{{table="{table}"}} 0.0' in shown
