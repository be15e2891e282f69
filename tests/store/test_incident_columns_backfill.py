"""Migrations 14 and 15 backfill the incident's indexed columns from its JSON exactly as the stores write them from
then on (codec.incident_columns, codec.report_columns): whatever offset a stored time has, the column holds it in
UTC, its fraction of a second kept, and the times to acknowledge and restore are whole microseconds."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.store.codec import incident_columns, incident_to_json, report_columns
from bot.adapters.store.postgres import migrations as pg_migrations
from bot.adapters.store.postgres.connection import migrate_database
from bot.adapters.store.sqlite import migrations as sqlite_migrations
from bot.domain.incident import Incident
from tests.pg_cluster import PostgresCluster
from tests.store.contract.builders import trigger

BEFORE = 12  # the schema version before retention (13) and the incident columns (14, 15)
COLUMNS = "service_id, urgency, triggered_at, acknowledged_at, resolved_at, tta_us, ttr_us"


def template() -> Incident:
    made = trigger("B0", number=0).incident
    assert made is not None
    return made


TEMPLATE = template()

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                     timezones=st.one_of(st.none(), st.just(UTC), offsets))
incidents = st.builds(lambda triggered, acknowledged, resolved, urgency: replace(
    TEMPLATE, triggered_at=triggered, acknowledged_at=acknowledged, resolved_at=resolved, urgency=urgency),
    times, st.none() | times, st.none() | times, st.sampled_from(["high", "low"]))


def numbered(history: list[Incident]) -> list[Incident]:
    return [replace(incident, id=f"B{n}", number=n, service_id=f"PSVC{n % 3}") for n, incident in enumerate(history)]


@settings(max_examples=60)
@given(st.lists(incidents, min_size=1, max_size=8))
def test_sqlite_backfill_writes_what_the_store_writes(history: list[Incident]) -> None:
    history = numbered(history)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for number, script in enumerate(sqlite_migrations.MIGRATIONS[:BEFORE], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.executemany("INSERT INTO incidents (id, number, status, data, updated_at) VALUES (?, ?, ?, ?, 1.0)",
                     [(i.id, i.number, i.status.value, incident_to_json(i)) for i in history])
    sqlite_migrations.migrate(conn)
    stored = conn.execute(f"SELECT {COLUMNS} FROM incidents ORDER BY number").fetchall()
    assert stored == [(*incident_columns(i), *report_columns(i)) for i in history]
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"incidents_service_triggered", "incidents_resolved", "incidents_status",
            "incidents_report_months"} <= indexes


def test_postgres_backfill_writes_what_the_store_writes(postgres_cluster: PostgresCluster) -> None:
    pick = random.Random(16)
    history: list[Incident] = []  # one database for many times: drawn here rather than one database per example
    for _ in range(300):
        zone = pick.choice([None, UTC, timezone(timedelta(minutes=pick.randint(-14 * 60, 14 * 60)))])
        when = datetime(2000, 1, 1) + timedelta(seconds=pick.randint(0, 3_000_000_000),
                                                microseconds=pick.choice([0, pick.randint(0, 999_999)]))
        later = when + timedelta(minutes=pick.randint(1, 5000))
        history.append(replace(TEMPLATE, triggered_at=when.replace(tzinfo=zone),
                               acknowledged_at=pick.choice([None, later.replace(tzinfo=zone)]),
                               resolved_at=pick.choice([None, later.replace(tzinfo=UTC)])))
    history = numbered(history)
    database = postgres_cluster.fresh_database(migrated=False)
    url = postgres_cluster.url(database)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                     b" applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for number, script in enumerate(pg_migrations.MIGRATIONS[:BEFORE], start=1):
            conn.execute(script.encode())
            conn.execute(b"INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
        with conn.cursor() as cursor:
            cursor.executemany(b"INSERT INTO incidents (id, number, status, data, updated_at)"
                               b" VALUES (%s, %s, %s, %s, 1.0)",
                               [(i.id, i.number, i.status.value, incident_to_json(i)) for i in history])
    assert asyncio.run(migrate_database(url)) == list(range(BEFORE + 1, len(pg_migrations.MIGRATIONS) + 1))
    with psycopg.connect(url) as conn:
        stored = conn.execute(f"SELECT {COLUMNS} FROM incidents ORDER BY number".encode()).fetchall()
    postgres_cluster.drop_database(database)
    assert stored == [(*incident_columns(i), *report_columns(i)) for i in history]
