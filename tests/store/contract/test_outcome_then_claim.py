"""An effect's outcome and the claim after it (`Outbox.effect_done_then_claim`): the claim is a help, not the outcome.
A claim that fails after the outcome is recorded (a due row of another queue this version cannot decode: a newer
replica queued an effect with a field this one does not know) leaves the outcome recorded and answers nothing
claimed, every lane due now — found in review of session 7: on SQLite the claim shared the outcome's savepoint, so
its failure rolled the effect's "done" back too, and the effect was performed again once its lease ran out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.domain.effects import PostTimelineEntry, RefreshCard
from bot.ports.store import Store
from tests.store.contract.test_effect_bookkeeping import assert_facts_recorded, claimed, learnt

NEWER_FIELD = "added_by_a_newer_version"


def give_a_newer_field(store: Store, workdir: Path, seq: int) -> None:
    """Write a field this version does not know into the effect's payload, with SQL of the test's own."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(workdir / "store.db") as conn:
            conn.execute(f"UPDATE outbox SET payload=json_set(payload, '$.{NEWER_FIELD}', 1) WHERE seq=?", (seq,))
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.where) as pg:  # the test cluster's URL has no password to redact
            pg.execute("UPDATE outbox SET payload = (payload::jsonb || jsonb_build_object(%s::text, 1))::text"
                       " WHERE seq = %s", (NEWER_FIELD, seq))


async def test_a_claim_failing_after_the_outcome_leaves_the_outcome_recorded(store: Store, tmp_path: Path) -> None:
    seq = await claimed(store)
    await store.queue_effect(PostTimelineEntry("Q9", "n9"), now=100.0)
    [newer] = [row for row in await store.due_effects(now=100.0, limit=10, busy=[]) if row.effect.incident_id == "Q9"]
    give_a_newer_field(store, tmp_path, newer.seq)
    after = await store.effect_done_then_claim(seq, owner="replica-a", bookkeeping=learnt(), now=100.0,
                                               room={"slack": 8}, busy=[], lease_seconds=30.0)
    # Nothing claimed, and every lane asked for due now: the dispatcher's loop claims instead.
    assert after is not None and dict(after) == {"slack": []} and after.next_due == {"slack": 100.0}
    assert await store.release_leases("replica-a") == 0  # nothing was left leased to nobody
    # The effect is done, what it learnt recorded and its follow-up queued: it is not offered again.
    await assert_facts_recorded(store)
    assert await store.pending_in_queue("slack:Q9") == 1
    assert [r.effect for r in await store.due_effects(now=200.0, limit=10, busy=["slack:Q9"])] == [RefreshCard("Q1")]
