"""Property: whatever PAVEDROAD_DATABASE_URL holds, its password never shows — not in the URL as the store names it
(`redact`), not in the one-line error when the database cannot be opened (even when the driver's own message
quotes the password, raw or %-escaped), and not in check-config's problem for a URL that is not PostgreSQL's."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.adapters.store.postgres.connection import (
    CONNECT_TIMEOUT,
    CONNECTION_DEFAULTS,
    connection_settings,
    opening_wait,
    redact,
    unavailable,
)
from bot.app.config import load_settings
from bot.errors import ConfigError

# Passwords long enough never to occur in the surrounding words by chance.
passwords = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=10, max_size=40)
users = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
hosts = st.sampled_from(["db", "127.0.0.1", "db.internal", "[::1]"])


@given(users, passwords, hosts, st.integers(1, 65535))
def test_the_password_never_shows_in_the_named_url_or_the_error(user: str, password: str, host: str,
                                                                port: int) -> None:
    assume(password not in user and quote(password, safe="") not in user)  # a password that is the user's name
    url = f"postgresql://{user}:{quote(password, safe='')}@{host}:{port}/pavedroad"
    named = redact(url)
    assert named == f"postgresql://{user}:***@{host}:{port}/pavedroad"
    error = unavailable(url, OSError(f"cannot connect with {url} (password {password!r}, raw {password})"))
    message = str(error)
    assert "PAVEDROAD_DATABASE_URL" in message and "\n" not in message
    for form in (password, quote(password, safe="")):
        assert form not in message


@given(passwords, st.sampled_from(["mysql://u:{}@db/x", "u:{}@db/x", "http://u:{}@db/x", "{}"]))
def test_a_url_that_is_not_postgresql_is_refused_without_echoing_it(password: str, shape: str) -> None:
    value = shape.format(password)
    with pytest.raises(ConfigError) as raised:
        load_settings({"PAVEDROAD_DATABASE_URL": value})
    [problem] = [p for p in raised.value.problems if p.startswith("PAVEDROAD_DATABASE_URL")]
    # A password that is a piece of the message's own words ("postgresql", "SQLite") is found there whatever the
    # bot does: judge only passwords the message could not contain but by echoing the URL.
    assume(password not in _problem_for(shape.format("x" * 12)))
    assert password not in problem


def _problem_for(value: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings({"PAVEDROAD_DATABASE_URL": value})
    [problem] = [p for p in raised.value.problems if p.startswith("PAVEDROAD_DATABASE_URL")]
    return problem


@given(users, passwords, hosts, st.sampled_from(["?password={}", "?sslmode=disable&password={}",
                                                  "?password={}&options=-csearch_path%3Dpavedroad"]))
def test_a_password_given_as_libpqs_query_parameter_never_shows_either(user: str, password: str, host: str,
                                                                        query: str) -> None:
    """Found in review of session 20: `redact` knew only `user:password@`, so `?password=` showed in full in the
    messages naming the database (report's "is not the bot's database", the schema refusals)."""
    assume(password not in user and quote(password, safe="") not in user)
    url = f"postgresql://{user}@{host}:5432/pavedroad" + query.format(quote(password, safe=""))
    named = redact(url)
    assert named == f"postgresql://{user}@{host}:5432/pavedroad" + query.format("***")
    message = str(unavailable(url, OSError(f"cannot connect with {url} (password {password!r}, raw {password})")))
    for form in (password, quote(password, safe="")):
        assert form not in named and form not in message


@given(st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=120).map(lambda tail: f"postgresql://{tail}"),
    st.builds(lambda hosts, query: f"postgresql://u:p@{hosts}/db{query}",
              st.lists(st.sampled_from(["db-a:5432", "db-b", "[::1]:6432", "", ":", "h:x"]), min_size=1,
                       max_size=4).map(",".join),
              st.sampled_from(["", "?target_session_attrs=read-write", "?connect_timeout=abc",
                               "?connect_timeout=2&keepalives=0", "?host=x,y&port=1,2,3", "?port="]))))
def test_whatever_the_url_its_connection_settings_are_worked_out_without_an_error(url: str) -> None:
    """Session 22 reads the URL for its hosts and settings (a multi-host URL for a failover): any URL, even one libpq
    would refuse (connecting then says what is wrong with it), gives settings and an opening wait, never an error."""
    settings = connection_settings(url)
    assert set(settings) <= set(CONNECTION_DEFAULTS)
    assert opening_wait(url) >= CONNECT_TIMEOUT
