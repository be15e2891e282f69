"""One PostgreSQL database behind a pool of connections: opening it (migrations first), transactions, and what the
store says when the database cannot be reached.

The pool (psycopg_pool's AsyncConnectionPool) reconnects by itself: when the database goes away, calls fail at once
or within `TIMEOUT` seconds (the webhook answers 503 and its sender retries; /readyz fails), and when it comes back
the next calls succeed without a restart. A connection that rested in the pool for `CHECK_AFTER_REST` or more is checked
as it is taken (a round trip), so one the database dropped meanwhile (a restart, a failover) is replaced instead of
failing a request; one back in the pool more recently is taken as it is (under a burst every transaction paid that
round trip: 3 to 4 % of the bot's CPU). Should the database drop it within that second, the first call on it fails as
one on a connection dropped mid-transaction does (a webhook answers 503 and its sender retries), and from then on
every connection is checked as it is next taken; so are they once a check finds one dropped (a restart drops the
recent ones too).

No single database: the URL may name several hosts (`postgresql://…@PRIMARY:5432,STANDBY:5432/…?target_session_attrs=
read-write`), which every new connection tries in turn — from the host the pool last connected to (`_Hosts`), so that
once the primary has failed over to a host listed later, the old one is not tried again first for each connection.
Connecting gives up on each host after `connect_timeout` (CONNECT_TIMEOUT, unless the URL sets it; libpq's own default
is two minutes), so that a primary whose machine is gone holds up a connection a few seconds, not minutes; and a
connection to a host that stopped answering is given up by TCP within seconds (keepalives, tcp_user_timeout), not the
kernel's quarter of an hour (`CONNECTION_DEFAULTS`; a parameter the URL gives is kept).
A database that hangs rather than goes (its processes stalled on storage, its virtual machine frozen) answers
nothing on the connections already open, and TCP cannot tell (the kernel still acknowledges): each call is given up
after `ANSWER_SECONDS` (`connection(within=…)`, deadline.py), so that a hung primary holds a call up for some 15 s,
not for ever, and the pool's connections are replaced — on the new primary, once there is one. Opening the store
(its migrations) is held to the same deadlines.
tests/web/test_database_failover.py fails a primary over to its standby under the bot, the primary killed or hung.

Durability is PostgreSQL's own: a transaction is on disk when its COMMIT returns (synchronous_commit = on, the
default), which is what lets a webhook answer 202 only after the commit.

A URL's password never leaves this module in a message: errors and the pool's log lines name the URL with the
password replaced by *** (`redact`).

`PostgresPart` is the base of each port's SQL (inbox.py, outbox.py, …): the parts share one `PostgresConnection`,
and `PostgresStore` (store.py) is all of them over one.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from bot.adapters.store.postgres.deadline import answered_within
from bot.adapters.store.postgres.migrating import MigrationLockHeld, migrate
from bot.adapters.store.postgres.migrations import NotTheBotsSchema
from bot.adapters.store.unreadable import UnreadableEffects
from bot.errors import StoreUnavailable

log = logging.getLogger(__name__)
# How long a call waits for a connection before it fails (well inside PagerDuty's and Slack's patience).
TIMEOUT = 3.0
# How long opening waits for the database at start.
CONNECT_TIMEOUT = 5
POOL_MIN, POOL_MAX = 2, 16
# How long a call may wait for the database's answers (its connection's check, its statements, its commit) before
# it is given up as if the connection were lost: well above any statement the bot runs in normal work (milliseconds),
# well inside a webhook sender's patience. Reading or writing a whole history (reports, imports) is given longer.
ANSWER_SECONDS = 10.0
LONG_ANSWER_SECONDS = 600.0
# Seconds a connection rests in the pool before it is checked again as it is taken.
CHECK_AFTER_REST = 1.0
VARIABLE = "PAVEDROAD_DATABASE_URL"
# libpq's parameters for every connection the bot opens, unless the URL gives its own: how long connecting waits for
# each host before trying the URL's next, and how soon a connection whose host stopped answering (its machine gone,
# the network cut) fails: keepalive probes after 10 s of silence, 3 unanswered 5 s apart; data unacknowledged for
# 15 s (both only where the system has them: Linux does).
CONNECTION_DEFAULTS = {"connect_timeout": str(CONNECT_TIMEOUT), "keepalives": "1", "keepalives_idle": "10",
                       "keepalives_interval": "5", "keepalives_count": "3", "tcp_user_timeout": "15000"}
Connection = AsyncConnection[DictRow]
Params = Sequence[Any] | None


def redact(url: str) -> str:
    """The URL with its password (if any: `user:password@`, or libpq's `?password=` parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that does not parse>"
    if parts.password is not None:
        netloc = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{netloc[0].partition(':')[0]}:***@{netloc[2]}")
    if _query_passwords(parts.query):
        parts = parts._replace(query="&".join("password=***" if pair.partition("=")[0] == "password" else pair
                                              for pair in parts.query.split("&")))
    return urlunsplit(parts)


def _query_passwords(query: str) -> list[str]:
    return [pair.partition("=")[2] for pair in query.split("&") if pair.partition("=")[0] == "password"]


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password, wherever it appears, replaced by ***."""
    try:
        parts = urlsplit(url)
        passwords = [p for p in [parts.password, *_query_passwords(parts.query)] if p]
    except ValueError:
        passwords = []
    text = text.replace(url, redact(url))
    # As written in the URL, and as it reads once its %-escapes are decoded; the longest first.
    for form in sorted({form for p in passwords for form in (p, unquote(p))}, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def connection_settings(url: str) -> dict[str, Any]:
    """CONNECTION_DEFAULTS but those the URL sets itself (all of them for a URL libpq would not read: connecting
    then says what is wrong with it), as keyword arguments of psycopg's `connect`."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:
        given = {}
    return {name: value for name, value in CONNECTION_DEFAULTS.items() if name not in given}


def opening_wait(url: str) -> float:
    """How long opening the pool waits for its first connections: each may have to give up on every host of the URL
    but the last (a primary that is gone, listed first) before it gets one, and the last has CONNECT_TIMEOUT too."""
    try:
        given = conninfo_to_dict(url)
        hosts = max(len(str(given.get("host", "")).split(",")), len(str(given.get("hostaddr", "")).split(",")))
        per_host = float(str(given.get("connect_timeout", CONNECT_TIMEOUT)))
    except (psycopg.Error, ValueError):
        hosts, per_host = 1, CONNECT_TIMEOUT
    return max(per_host, 2) * (hosts - 1) + CONNECT_TIMEOUT


class _Hosts:
    """The pool's connection string: the URL, its hosts (libpq's comma-separated `host`, `hostaddr` and `port`) in
    turn from the one a connection of the pool last reached. libpq tries a multi-host URL's hosts in order for each
    connection; after a failover to a host listed later, each would try the lost one first (`connect_timeout` each, if
    it is silent)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._reached: tuple[str, str] | None = None

    def reached(self, conn: Connection) -> None:
        """Noted as a new connection of the pool is made (the pool's `configure`)."""
        self._reached = (conn.info.host, str(conn.info.port))

    def conninfo(self) -> str:
        """The URL as given (one host, or none reached yet, or the first reached); else the same parameters with the
        host lists rotated so that the reached one comes first (a libpq key=value string)."""
        if self._reached is None:
            return self.url
        try:
            params = conninfo_to_dict(self.url)
        except psycopg.Error:
            return self.url
        lists = {name: str(params[name]).split(",") for name in ("host", "hostaddr", "port") if name in params}
        hosts = lists.get("host") or lists.get("hostaddr") or []
        ports = lists.get("port", [""])
        for first in range(1, len(hosts)):
            if (hosts[first], ports[first] if len(ports) > 1 else ports[0] or "5432") == self._reached:
                for name, values in lists.items():
                    if len(values) == len(hosts):
                        params[name] = ",".join(values[first:] + values[:first])
                return make_conninfo("", **params)
        return self.url


class _Scrubbed(logging.Filter):
    """Keeps the password out of the log lines psycopg and its pool write about this database."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self.url)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def unavailable(url: str, error: BaseException) -> StoreUnavailable:
    """The one-line error for a database that cannot be reached or opened at start."""
    detail = " ".join(str(error).split()) or error.__class__.__name__
    return StoreUnavailable(scrub(
        f"{VARIABLE}: cannot open the database at {redact(url)} ({detail}). Check that PostgreSQL is running and "
        f"reachable from here, and that the URL's user, password and database are right "
        f"(postgresql://USER:PASSWORD@HOST:PORT/DATABASE); or unset {VARIABLE} to use SQLite.", url))


class _Rests:
    """When each connection of the pool was last given back (stamped as a call ends, before the pool has it back),
    and the pool's `check` as a connection is taken."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        # Counts the distrusts: a call that took its connection before the latest one does not vouch for it.
        self.generation = 0

    def returned(self, conn: Connection, taken_in: int) -> None:
        if conn.broken or conn.closed:
            # The database dropped it (a restart, a failover?): the others are checked before they are used.
            self.distrust()
        elif taken_in == self.generation:
            self._returned[conn] = time.monotonic()
        else:  # taken before connections were found dropped: its call may have ended before the drop
            self._returned.pop(conn, None)

    def distrust(self) -> None:
        """Check every connection as it is next taken, however recently it was given back."""
        self.generation += 1
        self._returned.clear()

    async def check(self, conn: Connection) -> None:
        """Raise if the connection is broken; checked (a round trip) only after a rest of CHECK_AFTER_REST. One found
        broken says the database dropped connections (a restart, a failover?): the others are checked too."""
        returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned >= CHECK_AFTER_REST:
            try:
                await AsyncConnectionPool.check_connection(conn)
            except Exception:
                self.distrust()
                raise


class PostgresConnection:
    """The database URL, its pool, and the transactions every part runs in."""

    def __init__(self, url: str, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX) -> None:
        self.url = url
        self._sizes = (min_size, max_size)
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._closed = False
        self._filter = _Scrubbed(url)
        self._rests = _Rests()
        self._hosts = _Hosts(url)
        # Effects this version found it cannot read: left out of this replica's claims from then on.
        self.unreadable_effects = UnreadableEffects()

    @property
    def where(self) -> str:
        """The database, for messages: its URL without the password."""
        return redact(self.url)

    async def open(self, *, migrate: bool = True) -> list[int]:
        """Migrate the schema (unless `migrate` is False: a command inspecting the database, which must leave its
        schema as it is), then open the pool; return the migrations applied. Raises StoreUnavailable (naming
        PAVEDROAD_DATABASE_URL) when the database cannot be reached or migrated."""
        for name in ("psycopg", "psycopg.pool"):
            logging.getLogger(name).addFilter(self._filter)
        applied = await migrate_database(self.url) if migrate else []
        self._pool = AsyncConnectionPool(self._hosts.conninfo, connection_class=AsyncConnection[DictRow],
                                         kwargs={"autocommit": True, "row_factory": dict_row,
                                                 **connection_settings(self.url)},
                                         min_size=self._sizes[0], max_size=self._sizes[1], open=False,
                                         timeout=TIMEOUT, check=self._rests.check,
                                         configure=self._reached, name="pavedroad")
        try:
            await self._pool.open(wait=True, timeout=opening_wait(self.url))
        except Exception as error:
            await self._pool.close()
            raise unavailable(self.url, error) from None
        return applied

    async def _reached(self, conn: Connection) -> None:
        self._hosts.reached(conn)

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
        for name in ("psycopg", "psycopg.pool"):
            logging.getLogger(name).removeFilter(self._filter)

    @staticmethod
    def unreachable(error: BaseException) -> bool:
        """Whether a call failed because the database could not be reached or was going away (no connection within
        the pool's time, one lost, the server shutting down or not up yet) — nothing the call's rows did: trying its
        rows again one by one would only wait that long again for each."""
        if error_code(error) == READ_ONLY:  # the server refuses writes (a demoted primary): the database's state
            return True
        if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return False
        return error.sqlstate is None or error.sqlstate.startswith(("08", "57P"))

    def refuse_if_closed(self) -> None:
        if self._closed:  # said plainly, rather than the pool's own error
            raise RuntimeError("the store is closed; no store operation can run after Bot.stop()")

    def _usable(self) -> AsyncConnectionPool[Connection]:
        self.refuse_if_closed()
        assert self._pool is not None, "store not open"
        return self._pool

    @contextlib.asynccontextmanager
    async def connection(self, within: float | None = None) -> AsyncIterator[Connection]:
        """A connection of the pool, in autocommit mode (each statement its own transaction). The block (the
        connection's check as it is taken included; the wait for one has its own limit, TIMEOUT) must be done
        `within` seconds: past that, what it awaits of the database is cancelled and an OperationalError says the
        database did not answer. `within`: ANSWER_SECONDS unless given."""
        within = ANSWER_SECONDS if within is None else within
        pool = self._usable()
        # The others may be on the same hung server: checked before they are used.
        async with answered_within(TIMEOUT + within, said=within, on_expiry=self._rests.distrust) as deadline, \
                pool.connection() as conn:
            deadline(within)
            taken_in = self._rests.generation
            try:
                yield conn
            finally:
                self._rests.returned(conn, taken_in)

    @contextlib.asynccontextmanager
    async def transaction(self, within: float | None = None) -> AsyncIterator[Connection]:
        """One transaction: committed if the block finishes, rolled back if it raises."""
        async with self.connection(within) as conn, conn.transaction():
            yield conn


async def migrate_database(url: str) -> list[int]:
    """Bring the database's schema up to date on a connection of its own; the migrations applied. Connecting is
    held to `opening_wait`, each question to ANSWER_SECONDS: a database that hangs fails the start (StoreUnavailable)
    rather than holding it for ever. A migration itself takes as long as it takes (an index on a big table: cut off,
    it would be rolled back, and run again the same, for good): a database that hangs during one is interrupted by
    hand, or by the supervisor of a start that is not ready."""
    try:
        async with answered_within(opening_wait(url)) as deadline:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True, **connection_settings(url))
            try:
                return await migrate(conn, lambda long: deadline(None if long else ANSWER_SECONDS))
            finally:
                await conn.close()
    except NotTheBotsSchema as refused:
        raise StoreUnavailable(scrub(f"{VARIABLE}: the database at {redact(url)} {refused}.", url)) from None
    except MigrationLockHeld as held:
        raise StoreUnavailable(scrub(f"{VARIABLE}: the database at {redact(url)} {held}.", url)) from None
    except (psycopg.Error, OSError) as error:
        raise unavailable(url, error) from None


class PostgresPart:
    """One port's SQL, over the connection it shares with the other parts."""

    def __init__(self, connection: PostgresConnection) -> None:
        self._connection = connection

    def _transaction(self, within: float | None = None) -> contextlib.AbstractAsyncContextManager[Connection]:
        return self._connection.transaction(within)

    async def _query(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        async with self._connection.connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return await cursor.fetchall()

    async def _value(self, sql: str, params: Params = None) -> Any:
        """The first column of the first row (None when there is no row)."""
        rows = await self._query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    async def _execute(self, sql: str, params: Params = None) -> int:
        """Run one statement (its own transaction); how many rows it changed."""
        async with self._connection.connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return cursor.rowcount


# SQLSTATE classes that are the database's state, never the row's: connection exceptions (08), the server shutting
# down or not accepting connections yet (57P), a transaction to retry (40: serialization failure, deadlock), and a
# server refusing writes (25006: a primary demoted in a failover, a standby).
READ_ONLY = "25006"
NOT_THE_ROW = ("08", "57P", "40", READ_ONLY)


def error_code(error: BaseException) -> str | None:
    return error.sqlstate if isinstance(error, psycopg.Error) else None


def connection_lost(conn: Connection, error: Exception) -> bool:
    """Whether the failure is the database's (it went away, or asks for a retry), not the row's: then the batch is
    rolled back and retried, and nothing is quarantined."""
    if conn.broken or conn.closed:
        return True
    if isinstance(error, psycopg.Error):
        if error.sqlstate is None:  # raised by the driver itself: about the connection, or the row's values (NUL)
            return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        return error.sqlstate.startswith(NOT_THE_ROW)
    return False
