"""The claim hands each claimed effect what it starts from (its incident, footprint, ticket): a help, not the claim.
One incident that cannot be read with it (a row this version cannot decode: a newer replica wrote a field this one
does not know inside an assignee; a new field of the incident itself is read, see Incident.newer_fields) must
not fail the claim of every effect claimed with it — found in review of session 6: the whole
claim raised after committing, every effect stayed leased for a minute with nobody performing it, and came back
only to fail again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from bot.adapters.store.postgres.store import PostgresStore
from bot.adapters.store.sqlite.store import SqliteStore
from bot.ports.store import Store
from tests.pg_cluster import PostgresCluster
from tests.store.contract.builders import commit, trigger

READS = {"open_incident_channel": False, "post_timeline_entry": False}
NEWER_FIELD = "added_by_a_newer_version"


async def claim_with_an_unreadable_incident(store: Store) -> None:
    claimed = await store.claim_due_effects(100.0, {"slack": 8}, [], owner="a", lease_seconds=60.0, reads=READS)
    by_incident = {row.effect.incident_id: row for row in claimed["slack"]}
    assert set(by_incident) == {"Q1", "Q2"}  # both heads claimed, both handed over
    assert by_incident["Q1"].found is None  # read by its effect, which then fails on its own
    assert by_incident["Q2"].found is not None and by_incident["Q2"].found.incident is not None


async def test_sqlite_an_unreadable_incident_leaves_the_other_claims_whole(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    await commit(store, trigger("Q1", number=1), trigger("Q2", number=2))
    await store.close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"UPDATE incidents SET data=json_set(data, '$.assignees[0].{NEWER_FIELD}', 1) WHERE id='Q1'")
    store = SqliteStore(path)
    await store.open()
    try:
        await claim_with_an_unreadable_incident(store)
    finally:
        await store.close()


async def test_postgres_an_unreadable_incident_leaves_the_other_claims_whole(
        postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database()
    url = postgres_cluster.url(database)
    store = PostgresStore(url)
    await store.open()
    try:
        await commit(store, trigger("Q1", number=1), trigger("Q2", number=2))
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as raw:
            await raw.execute("UPDATE incidents SET data = jsonb_set(data::jsonb, %s, '1')::text WHERE id = 'Q1'",
                              (["assignees", "0", NEWER_FIELD],))
        await claim_with_an_unreadable_incident(store)
    finally:
        await store.close()
        postgres_cluster.drop_database(database)
