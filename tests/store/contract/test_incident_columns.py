"""The incident's indexed columns (service, urgency, trigger/acknowledge/resolve times in UTC) follow every write of
the incident on every store: the worker applying decisions, and a backfill of history."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from bot.adapters.pagerduty.webhook import read_event
from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.incident import Incident, apply_event
from bot.ports.store import Store
from tests.helpers import incident_event
from tests.store.contract.builders import POLICY, at, commit, resolve, trigger

Columns = tuple[str | None, str | None, str, str | None, str | None, str | None, int | None, int | None]


def stored_columns(store: Store, workdir: Path, incident_id: str) -> Columns | None:
    """The row's status and indexed columns, read with SQL of the test's own (not through the store)."""
    sql = ("SELECT service_id, urgency, status, triggered_at, acknowledged_at, resolved_at, tta_us, ttr_us"
           " FROM incidents WHERE id = {}")
    if isinstance(store, SqliteStore):
        with sqlite3.connect(workdir / "store.db") as conn:
            row = conn.execute(sql.format("?"), (incident_id,)).fetchone()
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.where) as pg:  # the test cluster's URL has no password to redact
            row = pg.execute(sql.format("%s").encode(), (incident_id,)).fetchone()
    return tuple(row) if row else None


def acknowledge(incident: Incident, *, minute: int) -> Incident:
    event = incident_event("incident.acknowledged", incident_id=incident.id, number=incident.number,
                           occurred_at=at(minute))
    decided = apply_event(incident, read_event(event), POLICY).incident
    assert decided is not None
    return decided


async def test_the_columns_follow_each_decision_the_worker_applies(store: Store, tmp_path: Path) -> None:
    opened = trigger("Q1", urgency="low", minute=0)
    assert opened.incident is not None
    await commit(store, opened)
    assert stored_columns(store, tmp_path, "Q1") == (
        opened.incident.service_id, "low", "triggered", "2026-11-27T10:00:00+00:00", None, None, None, None)
    acknowledged = acknowledge(opened.incident, minute=4)  # its snapshot raises the urgency to high
    await commit(store, replace(opened, incident=acknowledged, effects=()))
    assert stored_columns(store, tmp_path, "Q1") == (
        opened.incident.service_id, "high", "acknowledged", "2026-11-27T10:00:00+00:00", "2026-11-27T10:04:00+00:00",
        None, 240_000_000, None)
    await commit(store, resolve(acknowledged, minute=75))
    assert stored_columns(store, tmp_path, "Q1") == (
        opened.incident.service_id, "high", "resolved", "2026-11-27T10:00:00+00:00", "2026-11-27T10:04:00+00:00",
        "2026-11-27T11:15:00+00:00", 240_000_000, 4_500_000_000)


async def test_a_backfill_writes_the_columns_in_utc_whatever_the_offset(store: Store, tmp_path: Path) -> None:
    made = trigger("H1", number=1).incident
    assert made is not None
    india = timezone(timedelta(hours=5, minutes=30))
    past = replace(made, service_id="PSVC9", urgency="low", triggered_at=datetime(2025, 3, 1, 2, 0, 0, 250, india),
                   acknowledged_at=datetime(2025, 3, 1, 2, 10, tzinfo=india),
                   resolved_at=datetime(2025, 3, 1, 3, 0, 0, 500000, india))
    assert await store.add_history([past], [], now=1.0) == (1, 0)
    assert stored_columns(store, tmp_path, "H1") == (
        "PSVC9", "low", past.status.value, "2025-02-28T20:30:00.000250+00:00", "2025-02-28T20:40:00+00:00",
        "2025-02-28T21:30:00.500000+00:00", 599_999_750, 3_600_499_750)
