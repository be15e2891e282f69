"""PAVEDROAD_DATABASE_URL naming another application's database (a typo in the database's name, a copied URL): the
bot must not add its 22 migrations' tables beside that application's, as it already refuses for SQLite
(bot/app/stores.py). Before session 20 `pavedroad migrate`, `serve` and `history import` migrated any PostgreSQL
database they were given, and `report` asked "is it the bot's database?" instead of saying it is not.

The way out the refusal names is tested too: a schema of the bot's own in that database, through the URL's
`options=-csearch_path=...`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.adapters.store.postgres.connection import migrate_database
from bot.adapters.store.postgres.migrations import MIGRATIONS
from bot.adapters.store.postgres.store import PostgresStore
from bot.errors import StoreUnavailable
from tests.pg_cluster import PostgresCluster


@pytest.fixture
def crm(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """Another application's database: its tables in schema public."""
    name = postgres_cluster.fresh_database(migrated=False)
    postgres_cluster.sql("CREATE TABLE customers (id serial PRIMARY KEY, name text)",
                         "CREATE TABLE orders (id serial PRIMARY KEY, customer integer)",
                         "INSERT INTO customers (name) VALUES ('Ada')", database=name)
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [str(row[0]) for row in conn.execute(
            b"SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            b" 'information_schema') ORDER BY 1")]


def pavedroad(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVEDROAD_")}
    return subprocess.run([sys.executable, "-m", "bot.app.cli.main", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**env, "PAVEDROAD_DATABASE_URL": url}, check=False)


async def test_the_store_refuses_to_migrate_another_applications_database_and_changes_nothing(crm: str) -> None:
    with pytest.raises(StoreUnavailable) as refused:
        await migrate_database(crm)
    said = str(refused.value)
    assert said.startswith("PAVEDROAD_DATABASE_URL: the database at postgresql://postgres@127.0.0.1:")
    assert "holds another application's tables (customers, orders) in schema public, not the bot's; nothing was" \
           " changed" in said
    assert "CREATE SCHEMA pavedroad" in said and "options=-csearch_path%3Dpavedroad" in said
    assert tables(crm) == ["public.customers", "public.orders"]
    store = PostgresStore(crm)  # serve's and `history import`'s way in: the same refusal
    with pytest.raises(StoreUnavailable, match="holds another application's tables"):
        await store.open()
    assert tables(crm) == ["public.customers", "public.orders"]


async def test_an_empty_database_and_the_bots_own_are_migrated(postgres_cluster: PostgresCluster) -> None:
    empty = postgres_cluster.url(postgres_cluster.fresh_database(migrated=False))
    assert await migrate_database(empty) == list(range(1, len(MIGRATIONS) + 1))
    assert await migrate_database(empty) == []  # the bot's own: nothing more to do, nothing refused


async def test_a_schema_of_the_bots_own_in_that_database_is_the_way_out(crm: str, tmp_path: Path) -> None:
    with psycopg.connect(crm, autocommit=True) as conn:
        conn.execute(b"CREATE SCHEMA pavedroad")
    own = crm + "?options=-csearch_path%3Dpavedroad"
    assert await migrate_database(own) == list(range(1, len(MIGRATIONS) + 1))
    assert {t for t in tables(crm) if t.startswith("public.")} == {"public.customers", "public.orders"}
    assert "pavedroad.schema_migrations" in tables(crm) and "pavedroad.incidents" in tables(crm)
    store = PostgresStore(own)
    await store.open()
    try:
        assert await store.open_incidents() == []
    finally:
        await store.close()
    report = pavedroad("report", url=own, cwd=tmp_path)
    assert report.returncode == 0, report.stderr


def test_the_cli_says_it_in_one_line_and_report_says_it_is_not_the_bots(crm: str, tmp_path: Path) -> None:
    migrate = pavedroad("migrate", url=crm, cwd=tmp_path)
    assert migrate.returncode == 2 and "Traceback" not in migrate.stderr
    assert "holds another application's tables (customers, orders) in schema public" in migrate.stderr
    report = pavedroad("report", url=crm, cwd=tmp_path)
    assert report.returncode != 0 and "Traceback" not in report.stderr
    assert "is not the bot's database (it holds other tables in schema public): set PAVEDROAD_DATABASE_URL to the" \
           " database the bot runs on" in report.stderr, report.stderr
    assert "history seed" not in report.stderr
    assert tables(crm) == ["public.customers", "public.orders"]


async def refused(url: str) -> str:
    with pytest.raises(StoreUnavailable) as refusal:
        await migrate_database(url)
    return str(refusal.value)


async def test_the_schema_written_to_is_judged_not_the_bots_tables_further_along_the_path(
        postgres_cluster: PostgresCluster) -> None:
    """Found in review: the bot's tables in public, another application's in crm, and a search_path of crm, public
    — the first check looked for the bot's tables along the whole path, found them, and migrated 22 migrations' tables
    into crm."""
    name = postgres_cluster.fresh_database()  # migrated: the bot's tables in public
    postgres_cluster.sql("CREATE SCHEMA crm", "CREATE TABLE crm.customers (id int)", database=name)
    url = postgres_cluster.url(name)
    said = await refused(url + "?options=-csearch_path%3Dcrm,public")
    assert "holds the bot's tables in schema public, but its search_path (crm,public) puts schema crm first, which" \
           " holds another application's tables (customers); nothing was changed" in said and "drop" not in said
    assert "options=-csearch_path%3Dpublic to the URL's query (after ? or &)" in said
    assert tables(url) == ["crm.customers", *(t for t in tables(url) if t.startswith("public."))]
    # A schema made later, named after the role ("$user" comes first in the default path), is the same case.
    postgres_cluster.sql("CREATE SCHEMA postgres", database=name)
    assert "puts schema postgres first, where the bot would create new, empty ones; nothing was changed. Add " \
           "options=-csearch_path%3Dpublic to the URL's query (after ? or &), or drop schema postgres if it was made " \
           "by mistake (it is empty)" in await refused(url)
    assert await migrate_database(url + "?options=-csearch_path%3Dpublic") == []  # the way the refusal names


async def test_views_and_materialized_views_are_another_applications_too(postgres_cluster: PostgresCluster) -> None:
    name = postgres_cluster.fresh_database(migrated=False)
    postgres_cluster.sql("CREATE VIEW incidents AS SELECT 1 AS id", "CREATE MATERIALIZED VIEW sales AS SELECT 1",
                         database=name)
    assert "holds another application's tables (incidents, sales) in schema public" in await refused(
        postgres_cluster.url(name))
    assert tables(postgres_cluster.url(name)) == []  # no schema_migrations written beside them


async def test_a_search_path_with_no_usable_schema_is_said_as_such(postgres_cluster: PostgresCluster) -> None:
    """Found in review: a schema named in the URL but never created ended in "cannot open the database … Check that
    PostgreSQL is running", which points the wrong way."""
    name = postgres_cluster.fresh_database(migrated=False)
    said = await refused(postgres_cluster.url(name) + "?options=-csearch_path%3Dpavedroad")
    assert "has no schema the bot can create its tables in: none of its search_path (pavedroad) exists or can be " \
           "used by postgres; nothing was changed. Create one — CREATE SCHEMA pavedroad AUTHORIZATION postgres" in said
    assert "Check that PostgreSQL is running" not in said
