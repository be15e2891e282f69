"""The handover ledger: a shift boundary is claimed once however many claims race, notes go to the handover that
showed them, and only notes left before a boundary are shown in its handover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.handover_ledger import HandoverLedger
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import PostHandover

BOUNDARY = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
KEY = "payments:2026-11-27T17:30:00+00:00"


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[HandoverLedger]:
    store = SqliteStore(tmp_path / "ledger.db")
    await store.open()
    yield HandoverLedger(store)
    await store.close()


async def test_racing_claims_claim_once_and_queue_one_post(ledger: HandoverLedger) -> None:
    effect = PostHandover("handover:payments", "payments", KEY)
    results = await asyncio.gather(*(ledger.claim(KEY, "payments", BOUNDARY, late=False, effect=effect, now=1.0)
                                     for _ in range(10)))
    assert results.count(True) == 1
    assert await ledger.last_boundary("payments") == BOUNDARY
    assert await ledger._store.pending_in_queue("slack:handover:payments") == 1


async def test_a_skipped_boundary_counts_as_handled_without_a_post(ledger: HandoverLedger) -> None:
    assert await ledger.claim(KEY, "payments", BOUNDARY, late=False, effect=None, now=1.0)
    assert await ledger.last_boundary("payments") == BOUNDARY
    assert await ledger._store.pending_in_queue("slack:handover:payments") == 0


async def test_notes_are_shown_by_boundary_and_taken_only_by_the_post_that_showed_them(
        ledger: HandoverLedger) -> None:
    await ledger.add_note("payments", "dev", "before", BOUNDARY - timedelta(hours=1))
    await ledger.add_note("payments", "dev", "after", BOUNDARY + timedelta(minutes=5))
    await ledger.add_note("basket", "asha", "other rota", BOUNDARY - timedelta(hours=1))
    await ledger.claim(KEY, "payments", BOUNDARY, late=False, effect=None, now=1.0)
    shown = await ledger.notes_for("payments", KEY, BOUNDARY)
    assert [n.text for n in shown] == ["before"]
    assert [n.text for n in await ledger.notes_of(KEY)] == []  # not taken until the post is saved
    await ledger.save_post(KEY, channel="C1", ts="1.0", outgoing=[("P1", "Dev")], incoming=[("P2", "Chloe")],
                           notes=shown, follow_up=None, now=2.0)
    assert [n.text for n in await ledger.notes_of(KEY)] == ["before"]
    assert [n.text for n in await ledger.waiting_notes("payments")] == ["after"]
    row = await ledger.get(KEY)
    assert row is not None and row.outgoing == (("P1", "Dev"),) and row.channel == "C1"


async def test_a_store_call_after_close_is_refused_not_left_waiting(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "closed.db")
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError, match="the store is closed"):
        await store.ping()
