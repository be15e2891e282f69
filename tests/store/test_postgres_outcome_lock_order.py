"""PostgreSQL: an effect's outcome takes other queues' locks (its follow-ups) before any row lock (the lines it marks
told), as every writer does. A ticket sync's outcome used to mark a line told (that line's row), then queue the card's
refresh (the Slack queue's lock), while a posted line's outcome held the Slack queue (its own row done) and wanted
the line's row for its Slack ts: a deadlock, and a minute's stall of both (found in review of session 6)."""

from __future__ import annotations

import asyncio

import psycopg

from bot.adapters.store.postgres.store import PostgresStore
from bot.domain.effects.servicenow import SyncTicket
from bot.domain.effects.slack import PostTimelineEntry
from bot.ports.store import EffectBookkeeping
from tests.pg_cluster import PostgresCluster
from tests.store.contract.builders import commit, note


async def test_a_sync_outcome_and_a_posted_lines_outcome_do_not_deadlock(postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.fresh_database()
    url = postgres_cluster.url(database)
    store = PostgresStore(url)
    await store.open()
    try:
        await commit(store, note("Q1", "n1", minute=1, effects=(PostTimelineEntry("Q1", "n1"), SyncTicket("Q1"))))
        await store.update_footprint("Q1", sync_pending_shown=True)
        async with await psycopg.AsyncConnection.connect(url) as line_outcome:
            cursor = await line_outcome.execute("SELECT seq, kind FROM outbox WHERE state='pending' ORDER BY seq")
            seqs = {kind: seq for seq, kind in await cursor.fetchall()}
            await line_outcome.commit()
            # The posted line's outcome, as record_bookkeeping runs it: its row done (its Slack queue's lock) ...
            await line_outcome.execute("UPDATE outbox SET state='done' WHERE seq=%s", (seqs["post_timeline_entry"],))
            kept = EffectBookkeeping(noted=["n1"], refresh_card_once_synced=("Q1", 100.0))
            sync_done = asyncio.create_task(store.effect_done(seqs["sync_ticket"], bookkeeping=kept))
            await asyncio.sleep(0.5)
            assert not sync_done.done()  # waits for the Slack queue's lock, holding no line's row
            # ... then the line's Slack ts: its row is free.
            await line_outcome.execute("UPDATE timeline SET slack_ts='1.1' WHERE id='n1'")
            await line_outcome.commit()
            assert await asyncio.wait_for(sync_done, 10) is True
        async with await psycopg.AsyncConnection.connect(url) as look:
            cursor = await look.execute("SELECT slack_ts FROM timeline WHERE id='n1'")
            assert await cursor.fetchone() == ("1.1",)
    finally:
        await store.close()
        postgres_cluster.drop_database(database)
