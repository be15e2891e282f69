"""Rows this version cannot read — what a rolling upgrade (or a downgrade) of replicas sharing one store leaves a
while, or a corrupted row — are left pending for a replica that can read them (bot/adapters/store/unreadable.py):
never claimed nor offered, never due, never quarantined; the queue they head waits for them, every other queue goes
on; and `left_for_newer_version` counts them. Before session 11 the claim raised on such an effect on every wake (no
effect of any incident was performed) and the worker quarantined a record a newer replica would have applied."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psycopg
import pytest

from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.adapters.store.unreadable import PRUNE_AT
from bot.domain.effects import Effect
from bot.domain.effects.slack import PostTimelineEntry, RefreshCard
from bot.domain.incident import Decision, Incident
from bot.ports.store import Arrival, InboxRow, Skip, Store
from tests.newer_version import AskedByANewerVersion, RefreshCardOfANewerVersion
from tests.store.contract.builders import at, commit, resolve, trigger

NOW = 100.0
ROOM = {"slack": 8}


@dataclass(frozen=True)
class PostTimelineEntryOfAnOlderVersion(Effect):
    """A kind this version knows, without a field it needs (an older version's, or a corrupted row)."""

    kind: ClassVar[str] = "post_timeline_entry"


async def claim(store: Store, now: float = NOW) -> list[Effect]:
    claimed = await store.claim_due_effects(now, ROOM, [], owner="a", lease_seconds=60.0)
    return [row.effect for row in claimed["slack"]]


async def test_an_effect_of_a_kind_this_version_does_not_know_is_left_and_the_other_queues_go_on(
        store: Store) -> None:
    await store.queue_effect(AskedByANewerVersion("Q9", "from tomorrow's release"), now=NOW)
    await store.queue_effect(PostTimelineEntry("Q9", "e1"), now=NOW)  # behind it in its queue
    await store.queue_effect(RefreshCard("Q1"), now=NOW)
    assert await claim(store) == [RefreshCard("Q1")]
    assert await store.due_effects(NOW, 10, []) == []
    [done] = await store.due_effects(NOW + 61, 10, [])  # its lease ran out: offered again, alone
    assert done.effect == RefreshCard("Q1")
    assert await store.claim_effect(done.seq, owner="b", now=NOW + 61, lease_seconds=60.0)
    await store.queue_effect(RefreshCard("Q2"), now=NOW + 61)
    claimed = await store.effect_done_then_claim(done.seq, owner="b", bookkeeping=None, now=NOW + 61, room=ROOM,
                                                 busy=[], lease_seconds=60.0)
    assert claimed is not None and [row.effect for row in claimed["slack"]] == [RefreshCard("Q2")]
    await store.effect_done(claimed["slack"][0].seq)
    # Nothing due here (no dispatcher wakes for it again and again), yet both wait, pending, for a newer replica.
    assert await store.next_effect_due_at() is None
    assert (await store.depths())["outbox_pending"] == 2 and await store.dead_effects() == []
    assert await store.left_for_newer_version() == {"effects": 2, "records": 0}


async def test_an_effect_whose_payload_this_version_cannot_read_is_left_and_logged_once(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    await store.queue_effect(RefreshCardOfANewerVersion("Q8", "compact"), now=NOW)
    await store.queue_effect(PostTimelineEntry("Q8", "e1"), now=NOW)  # behind it in its queue
    await store.queue_effect(PostTimelineEntryOfAnOlderVersion("Q7"), now=NOW)
    await store.queue_effect(RefreshCard("Q1"), now=NOW)
    with caplog.at_level(logging.WARNING):
        assert await claim(store) == [RefreshCard("Q1")]
        assert await store.due_effects(NOW, 10, []) == []  # Q1's leased; the others are never offered
        [again] = await store.due_effects(NOW + 61, 10, [])
        assert again.effect == RefreshCard("Q1")
        await store.effect_done(again.seq)
        assert await claim(store, NOW + 61) == []
    assert await store.next_effect_due_at() is None
    assert (await store.depths())["outbox_pending"] == 3 and await store.dead_effects() == []
    assert await store.left_for_newer_version() == {"effects": 3, "records": 0}
    told = [r.getMessage() for r in caplog.records if "cannot be read by this version" in r.getMessage()]
    assert len(told) == 2, told  # once per row, however often it is come upon
    assert any("refresh_card" in m and "style" in m for m in told) and any("post_timeline_entry" in m for m in told)


async def record(store: Store, event_id: str, *, incident_id: str, source: str = "pagerduty",
                 event_type: str = "incident.acknowledged", body: str = "{}") -> None:
    assert await store.record_delivery(source=source, delivery_id=event_id, event_id=event_id, event_type=event_type,
                                       incident_id=incident_id, occurred_at=at(0), body=body)


async def test_a_record_a_newer_version_wrote_is_left_pending_with_the_rows_of_its_incident_behind_it(
        store: Store) -> None:
    await record(store, "new", incident_id="Q1", source="slack", event_type="key_message.renamed",
                 body='{"type": "key_message.renamed"}')
    await record(store, "after", incident_id="Q1")  # the same incident's: waits behind it, in arrival order
    await record(store, "other", incident_id="Q2")
    await record(store, "known", incident_id="Q3", source="slack", event_type="key_message", body="{}")
    offered: list[str] = []

    def decide(row: InboxRow, incident: Incident | None) -> Decision | Skip:
        offered.append(row.event_id)
        return Skip("failed", "unreadable") if row.event_id == "known" else Skip("ignored", "not ours")
    assert await store.apply_pending(decide, NOW) == []
    assert await store.apply_pending(decide, NOW) == []  # nothing offered again: no worker spins on them
    # A record of a type this version knows is read (and quarantined as ever when its body cannot be read).
    assert offered == ["other", "known"]
    depths = await store.depths()
    assert (depths["inbox_pending"], depths["inbox_failed"]) == (2, 1)
    assert await store.left_for_newer_version() == {"effects": 0, "records": 2}
    # A delivery arriving meanwhile for another incident is applied as it is stored; one for the record's incident
    # is stored pending, and waits behind it with the others.
    for delivery, incident_id in (("late", "Q4"), ("behind", "Q1")):
        arrival = await store.record_and_apply(source="pagerduty", delivery_id=delivery, event_id=delivery,
                                               event_type="incident.acknowledged", incident_id=incident_id,
                                               occurred_at=at(1), body="{}", decide=decide, now=NOW)
        assert arrival == Arrival(stored=True, outcome=Skip("ignored", "not ours") if delivery == "late" else None)
    assert await store.apply_pending(decide, NOW) == [] and offered[-1] == "late"
    assert (await store.depths())["inbox_pending"] == 3
    assert await store.left_for_newer_version() == {"effects": 0, "records": 3}


def performed_by_a_newer_replica(store: Store, workdir: Path, count: int) -> None:
    """`count` of the pending effects done, as a newer replica records them, with SQL of the test's own."""
    sql = ("UPDATE outbox SET state = 'done' WHERE seq IN (SELECT seq FROM outbox WHERE state = 'pending'"
           " ORDER BY seq LIMIT {p})")
    if isinstance(store, SqliteStore):
        with sqlite3.connect(workdir / "store.db") as conn:
            conn.execute(sql.format(p="?"), (count,))
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.where) as pg:  # the test cluster's URL has no password to redact
            pg.execute(sql.format(p="%s").encode(), (count,))


async def test_effects_a_newer_replica_performed_are_forgotten_and_the_rest_still_left(
        store: Store, tmp_path: Path) -> None:
    """Past PRUNE_AT remembered, a claim first asks which are still pending (a newer replica performs them meanwhile)
    and forgets the others: what every claim leaves out stays as long as what is left."""
    for n in range(PRUNE_AT + 6):
        await store.queue_effect(RefreshCardOfANewerVersion(f"N{n}", "compact"), now=NOW)
    while await store.due_effects(NOW, 8, []) or await store.next_effect_due_at() is not None:
        assert await claim(store) == []  # met 8 at a time, and remembered
    assert await store.left_for_newer_version() == {"effects": PRUNE_AT + 6, "records": 0}
    performed_by_a_newer_replica(store, tmp_path, 10)
    await store.queue_effect(RefreshCard("Q1"), now=NOW)
    assert await claim(store) == [RefreshCard("Q1")]  # the claim that forgets the ten done
    assert await store.next_effect_due_at() == NOW + 60.0  # Q1's lease: the ones left still are not due here
    assert await store.left_for_newer_version() == {"effects": PRUNE_AT - 4, "records": 0}


def stored_incident(store: Store, workdir: Path, incident_id: str, change: Mapping[str, object] | None = None
                    ) -> dict[str, object]:
    """The incident's stored JSON, read (and first changed, as a newer version writes it) with SQL of the test's own."""
    read, write = "SELECT data FROM incidents WHERE id = {p}", "UPDATE incidents SET data = {p} WHERE id = {p}"
    if isinstance(store, SqliteStore):
        with sqlite3.connect(workdir / "store.db") as conn:
            data: dict[str, object] = json.loads(conn.execute(read.format(p="?"), (incident_id,)).fetchone()[0])
            if change:
                conn.execute(write.format(p="?"), (json.dumps({**data, **change}), incident_id))
    else:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.where) as pg:
            row = pg.execute(read.format(p="%s").encode(), (incident_id,)).fetchone()
            assert row is not None
            data = json.loads(row[0])
            if change:
                pg.execute(write.format(p="%s").encode(), (json.dumps({**data, **change}), incident_id))
    return {**data, **(change or {})}


async def test_an_incident_a_newer_version_saved_is_read_and_its_new_fields_survive_this_versions_write(
        store: Store, tmp_path: Path) -> None:
    """A newer version adds a field to the incident: an older replica still applies events to it (before session 20
    it could not read the incident, and quarantined every delivery for it until the upgrade ended), and writes the
    field back as it found it, so the newer replicas do not lose it."""
    await commit(store, trigger("Q5"))
    newer = {"impact": {"customers": 1200, "regions": ["eu-west"]}, "severity_class": "SEV2"}
    stored_incident(store, tmp_path, "Q5", newer)
    incident = await store.incident("Q5")
    assert incident is not None and incident.status.value == "triggered"
    await commit(store, resolve(incident), now=200.0)
    after = stored_incident(store, tmp_path, "Q5")
    assert after["status"] == "resolved"
    assert {key: after[key] for key in newer} == newer
    resolved = await store.incident("Q5")
    assert resolved is not None and resolved.status.value == "resolved"
