"""The SQLite store's synchronous setting (bot/adapters/store/sqlite/connection.py): light writes in a row switch it
once, and whatever must be durable — a stored delivery, an effect done, a durable transaction — commits at FULL
however many light writes came before. Read from the statements SQLite ran (its trace callback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.connection import SqliteConnection
from bot.adapters.store.sqlite.inbox import SqliteInbox
from bot.adapters.store.sqlite.incidents import SqliteIncidents
from bot.adapters.store.sqlite.outbox import SqliteOutbox
from bot.domain.effects.slack import RefreshCard

FULL, NORMAL = "PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL"


class Parts(SqliteInbox, SqliteOutbox, SqliteIncidents):
    """The store's parts a soak's incident writes through most, over one connection."""


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[SqliteConnection, Parts, list[str]]]:
    connection = SqliteConnection(tmp_path / "store.db")
    await connection.open()
    statements: list[str] = []
    await connection.run(lambda: connection.reader.set_trace_callback(statements.append))
    try:
        yield connection, Parts(connection), statements
    finally:
        await connection.close()


def commit_modes(statements: list[str]) -> list[str]:
    """The setting each COMMIT ran under, in order (the connection opens at FULL)."""
    mode, found = FULL, []
    for statement in statements:
        if statement in (FULL, NORMAL):
            mode = statement
        elif statement == "COMMIT":
            found.append(mode)
    return found


async def test_light_writes_in_a_row_switch_the_setting_once(
        traced: tuple[SqliteConnection, Parts, list[str]]) -> None:
    _, store, statements = traced
    await store.queue_effect(RefreshCard("I1"), 1.0)
    statements.clear()
    for now in (2.0, 3.0, 4.0):  # three light writes: claims, then a retry's due time
        await store.claim_due_effects(now, {"slack": 1}, [], owner="a", lease_seconds=0.5)
    await store.effect_retry(1, 5.0, "busy", owner="a")
    assert statements.count(NORMAL) == 1
    assert FULL not in statements
    assert commit_modes(statements) == [NORMAL] * 4


async def test_durable_writes_after_light_ones_commit_at_full(
        traced: tuple[SqliteConnection, Parts, list[str]]) -> None:
    connection, store, statements = traced
    await store.queue_effect(RefreshCard("I1"), 1.0)
    claimed = await store.claim_due_effects(2.0, {"slack": 1}, [], owner="a", lease_seconds=30)
    assert [row.seq for row in claimed["slack"]] == [1]
    assert await store.effect_done(1, owner="a")  # a group commit
    await store.claim_due_effects(3.0, {"slack": 1}, [], owner="a", lease_seconds=30)  # nothing due: no write
    await store.queue_effect(RefreshCard("I2"), 4.0)
    await store.claim_due_effects(5.0, {"slack": 1}, [], owner="a", lease_seconds=30)
    # A stored delivery takes the connection raw (its own BEGIN): it must find FULL back.
    assert await store.record_delivery(source="pagerduty", delivery_id="d1", event_id="e1",
                                       event_type="incident.triggered", incident_id="I1",
                                       occurred_at="2026-01-01T00:00:00Z", body="{}")
    # queued, claimed, done, queued, claimed, stored
    assert commit_modes(statements) == [FULL, NORMAL, FULL, FULL, NORMAL, FULL]
    # Whoever takes the connection from `db` after a light write gets it at FULL.
    assert await store.effect_retry(2, 9.0, "busy", owner="a")
    assert await connection.run(lambda: connection.db.execute("PRAGMA synchronous").fetchone()) == (2,)
