"""A libpq multi-host URL (`postgresql://USER:PASSWORD@PRIMARY:5432,STANDBY:5432/DATABASE?target_session_attrs=
read-write`): accepted by the settings, its password masked as a single host's is, and every connection the store
opens given up on a silent host soon (connect_timeout) and on a host that stops answering soon (TCP keepalives,
tcp_user_timeout), unless the URL says otherwise. The failover itself: tests/web/test_database_failover.py."""

from __future__ import annotations

import pytest

from bot.adapters.store.postgres.connection import (
    CONNECT_TIMEOUT,
    CONNECTION_DEFAULTS,
    PostgresConnection,
    connection_settings,
    opening_wait,
    redact,
    scrub,
)
from bot.app.config import load_settings
from tests.pg_cluster import PASSWORD, PASSWORD_USER, PostgresCluster, multi_host_url

URL = "postgresql://pavedroad:Sup3r%40secret@db-a.internal:5432,db-b.internal:5433/pavedroad?target_session_attrs=read-write"


def test_a_multi_host_url_is_accepted_and_its_password_never_shows() -> None:
    env = {"PAVEDROAD_DATABASE_URL": URL, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
           "PAGERDUTY_API_TOKEN": "t", "PAGERDUTY_WEBHOOK_SECRETS": "w"}
    assert load_settings(env).database_url == URL
    assert redact(URL) == ("postgresql://pavedroad:***@db-a.internal:5432,db-b.internal:5433/pavedroad"
                           "?target_session_attrs=read-write")
    said = scrub(f"failed at {URL}: password Sup3r@secret rejected", URL)
    assert "Sup3r" not in said and redact(URL) in said


def test_the_urls_own_connection_parameters_are_kept_and_the_rest_are_the_bots() -> None:
    assert connection_settings(URL) == CONNECTION_DEFAULTS
    own = connection_settings(URL + "&connect_timeout=20&keepalives_idle=30")
    assert own == {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in ("connect_timeout", "keepalives_idle")}
    # Opening waits long enough to give up on every host but the last, at the URL's connect_timeout if it sets one.
    assert opening_wait("postgresql://db/pavedroad") == CONNECT_TIMEOUT
    assert opening_wait(URL) == 2 * CONNECT_TIMEOUT
    assert opening_wait(URL + "&connect_timeout=20") == 20 + CONNECT_TIMEOUT


@pytest.mark.parametrize("hosts", [1, 2])
async def test_the_stores_connections_give_up_on_a_silent_host_soon(postgres_cluster: PostgresCluster,
                                                                    hosts: int) -> None:
    database = postgres_cluster.fresh_database()
    url = multi_host_url([postgres_cluster] * hosts, database, user=PASSWORD_USER, password=PASSWORD)
    store = PostgresConnection(url)
    await store.open()
    try:
        async with store.connection() as conn:
            parameters = conn.info.get_parameters()
            assert conn.info.transaction_status == 0  # idle: the pool's own setup left no transaction open
    finally:
        await store.close()
    assert {k: parameters.get(k) for k in CONNECTION_DEFAULTS} == CONNECTION_DEFAULTS
    assert PASSWORD not in str(parameters)
