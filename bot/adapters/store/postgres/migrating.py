"""Bringing a PostgreSQL database's schema up to date with migrations.py's migrations: one session at a time, under
a session-level advisory lock, each step held to a deadline (deadline.py).

Replicas starting together (a rolling deploy, a scale-up) may all migrate at once: one takes the lock and applies
what is missing; the others, once they get it, find nothing left to do. Each migration and its row in
`schema_migrations` commit together: a crash leaves either both or neither.

The lock is asked for (`pg_try_advisory_lock`, every LOCK_POLL_SECONDS), not waited on: a database that is up answers
each ask at once, so one that hangs is told apart from a replica that is migrating, and fails the start within
seconds. A session that holds the lock past LOCK_WAIT_SECONDS (a replica frozen mid-migration: its session lives on
until TCP gives it up, hours by the server's defaults) fails the start with what to do (MigrationLockHeld), rather
than holding every replica's start for as long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from psycopg import AsyncConnection

from bot.adapters.store.postgres.migrations import (
    MIGRATION_LOCK,
    MIGRATIONS,
    SCHEMA_LOOK,
    NotTheBotsSchema,
    schema_refusal,
)

# How long a start waits for another session's migration (the lock held), and how often it asks for the lock.
LOCK_WAIT_SECONDS = 600.0
LOCK_POLL_SECONDS = 0.5
# Told before each step whether it may take long (a migration's script) or is a quick question to the database.
Allow = Callable[[bool], None]


class MigrationLockHeld(Exception):
    """Another session held the migration lock for all of LOCK_WAIT_SECONDS; `str(error)` says what to do,
    following "the database at URL" (connection.py names the setting and the URL)."""


def _no_deadline(long: bool) -> None:
    """(`migrate` with no deadline: each step waits as long as the database takes.)"""


async def migrate(conn: AsyncConnection[object], allow: Allow = _no_deadline) -> list[int]:
    """Apply every migration the database lacks, in order, under the migration lock; return the numbers applied
    (empty when it was up to date). `conn` must be in autocommit mode. A schema not the bot's to use is refused
    (NotTheBotsSchema, see `schema_refusal`) before anything is written to it."""
    await _take_lock(conn, allow)
    try:
        allow(False)
        look = await (await conn.execute(SCHEMA_LOOK)).fetchone()
        refusal = schema_refusal(look)  # type: ignore[arg-type]
        if refusal is not None:
            raise NotTheBotsSchema(refusal)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                           " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        done = {int(row[0]) for row in await cursor.fetchall()}  # type: ignore[index]
        applied: list[int] = []
        for number, script in enumerate(MIGRATIONS, start=1):
            if number in done:
                continue
            allow(True)
            async with conn.transaction():
                await conn.execute(script.encode())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
            applied.append(number)
        return applied
    finally:
        if not conn.closed:
            allow(False)
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def _take_lock(conn: AsyncConnection[object], allow: Allow) -> None:
    given_up_at = time.monotonic() + LOCK_WAIT_SECONDS
    database = conn.info.dbname
    while True:
        allow(False)
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,))).fetchone()
        if row is not None and row[0]:  # type: ignore[index]
            return
        if time.monotonic() >= given_up_at:
            raise MigrationLockHeld(
                f"has had the bot's migration lock held by another session for {LOCK_WAIT_SECONDS:g}s — a replica "
                "of the bot migrating the schema, or stuck while it did; nothing was changed. Find it with SELECT "
                "pid, application_name, client_addr, backend_start, state FROM pg_stat_activity WHERE pid IN "
                "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM "
                f"pg_database WHERE datname = {_literal(database)}) AND classid = {MIGRATION_LOCK >> 32} AND objid = "
                f"{MIGRATION_LOCK & 0xFFFFFFFF} AND objsubid = 1); stop that replica, or end its session with "
                "SELECT pg_terminate_backend(pid) if it is stuck, then start the bot again")
        await asyncio.sleep(LOCK_POLL_SECONDS)


def _literal(text: str) -> str:
    """`text` as an SQL string literal (a database's name may hold a quote)."""
    return "'" + text.replace("'", "''") + "'"
