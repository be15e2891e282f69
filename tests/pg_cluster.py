"""A throwaway PostgreSQL cluster for the tests and the benchmarks: `initdb` in a temporary directory, started with
`pg_ctl` on a free port (its unix socket in that directory too), stopped and removed at the end.

PostgreSQL refuses to run as root, and CI runs as root: there every PostgreSQL command runs as the `postgres` system
user (`runuser -u postgres -- …`) and the directory is given to that user; otherwise the commands run directly. The
binaries are found on PATH, then in /usr/lib/postgresql/<version>/bin (Debian's `postgresql` package).

Each test gets a database of its own, copied from a migrated template (`fresh_database`), which takes a fraction of
a second. Two roles: `postgres` (trusted, no password) and `PASSWORD_USER`, who must give `PASSWORD` (SCRAM) — for
the tests that a password never shows in a message.

A cluster can have a streaming standby (`add_standby`: `pg_basebackup -R` from it, started, then made synchronous,
so a commit the primary acknowledges is on the standby too), which `promote()` makes a primary of its own: a
failover, with `kill()` (`pg_ctl stop -m immediate`) for the primary's loss. `multi_host_url` names several
clusters in one libpq URL, as a bot pointed at a primary and its standby is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

NOT_INSTALLED = ("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): "
                 "apt-get install -y postgresql")
PASSWORD_USER, PASSWORD = "pavedroad_secret", "Sup3r-s3cret-pw"
TEMPLATE = "pavedroad_template"


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """One cluster: `start()`, then `url()` / `fresh_database()`; `stop()` and `start()` again (a database outage);
    `destroy()` at the end. `durable=False` (tests) turns fsync off; the benchmarks keep PostgreSQL's defaults."""

    def __init__(self, *, durable: bool = False, standby_of: PostgresCluster | None = None) -> None:
        """A new cluster (initdb), or, with `standby_of`, a copy of that running cluster that follows it
        (`pg_basebackup -R`: a standby, not yet started)."""
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError(NOT_INSTALLED)
        self.bin = bin_dir
        self.durable: bool = standby_of.durable if standby_of is not None else durable
        self.root = Path(tempfile.mkdtemp(prefix="pavedroad-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        if standby_of is None:
            self._initdb()
        else:
            self._base_backup(standby_of)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, str(self.bin / command[0]), *command[1:]], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                  "--no-sync")
        self._configure({"listen_addresses": "'127.0.0.1'", "max_connections": "300",
                         "fsync": "on" if self.durable else "off", "full_page_writes": "on" if self.durable else "off",
                         "synchronous_commit": "on", "log_min_messages": "warning"})
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
            # A standby's WAL receiver (pg_basebackup's too) connects to the replication pseudo-database.
            "local replication postgres trust\n"
            "host replication postgres 127.0.0.1/32 trust\n", encoding="utf-8")

    def _configure(self, settings: dict[str, str]) -> None:
        """Appended to postgresql.conf (the last line for a setting wins), with this cluster's own port and socket
        directory."""
        settings = {"port": str(self.port), "unix_socket_directories": f"'{self.root}'", **settings}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _base_backup(self, primary: PostgresCluster) -> None:
        """A copy of the running `primary`, made a standby of it (`-R`: standby.signal and primary_conninfo), its
        WAL streamed during the copy (`-X stream`) after a checkpoint made at once (`-c fast`). The copy has the
        primary's settings, its port and socket directory then replaced by this cluster's."""
        self._run("pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(primary.port), "-U",
                  "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync")
        self._configure({})

    def add_standby(self) -> PostgresCluster:
        """A streaming standby of this (running) cluster, started, and made synchronous: from here on a commit this
        cluster acknowledges is on the standby too (`synchronous_standby_names = '*'`, `synchronous_commit = on`).
        The caller destroys the standby. Were the standby to stop, this cluster's commits would wait for it."""
        standby = PostgresCluster(standby_of=self)
        try:
            standby.start()
            self.sql("ALTER SYSTEM SET synchronous_standby_names = '*'", "SELECT pg_reload_conf()")
            self.wait_for(lambda conn: conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'"
            ).fetchone() == (1,), "the standby never became a synchronous one")
        except BaseException:
            standby.destroy()
            raise
        return standby

    def promote(self) -> None:
        """This standby made a primary of its own (it stops following; writes are accepted once this returns)."""
        self._run("pg_ctl", "promote", "-w", "-t", "60", "-D", str(self.data))
        self.wait_for(lambda conn: conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,),
                      "the promoted standby still says it is in recovery")

    def kill(self) -> None:
        """The cluster lost at once, as in a crash (`pg_ctl stop -m immediate`): its connections dropped, nothing
        flushed or handed over."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "immediate", "-D", str(self.data))

    def wait_for(self, condition: Callable[[psycopg.Connection[tuple[Any, ...]]], bool], failure: str,
                 seconds: float = 60) -> None:
        """Poll `condition` on a connection to this cluster until it holds (AssertionError with `failure` after
        `seconds`)."""
        deadline = time.monotonic() + seconds
        while True:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                if condition(conn):
                    return
            assert time.monotonic() < deadline, failure
            time.sleep(0.05)

    def start(self) -> None:
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.root / "server.log"))

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data))

    def pause(self) -> None:
        """A database that hangs: every process of the cluster stopped (SIGSTOP), its connections left open. Each
        query, and each new connection past the kernel's handshake, then waits for an answer that does not come."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):  # a child the postmaster, resumed first, has reaped
                os.kill(pid, signal.SIGCONT)

    def _processes(self) -> list[int]:
        """The postmaster (its pid is postmaster.pid's first line) and its children (from /proc)."""
        postmaster = int((self.data / "postmaster.pid").read_text(encoding="utf-8").split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The parent's pid is the second field after the name, which is in parentheses and may hold spaces.
                if int(stat.read_text(encoding="utf-8").rpartition(")")[2].split()[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def destroy(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):  # not running (a test that failed while it hung)
            self.resume()
        with contextlib.suppress(RuntimeError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, user: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def sql(self, *statements: str, database: str = "postgres") -> None:
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.encode())

    def prepare(self) -> None:
        """The password user, and the migrated template every fresh database is copied from."""
        from bot.adapters.store.postgres.connection import migrate_database

        self.sql(f"CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'",
                 f"CREATE DATABASE {TEMPLATE}")
        # On a thread of its own: a test's event loop may be running on this one.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, migrate_database(self.url(TEMPLATE))).result()

    def fresh_database(self, *, migrated: bool = True) -> str:
        """A new database (migrated, unless asked otherwise); its name."""
        name = f"t{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE}" if migrated else ""))
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def multi_host_url(clusters: list[PostgresCluster], database: str, *, user: str = "postgres",
                   password: str | None = None, query: str = "target_session_attrs=read-write") -> str:
    """One libpq URL naming every cluster's host and port in turn (`postgresql://USER@H1:P1,H2:P2/DATABASE?…`): a
    client connects to the first that accepts it (with `target_session_attrs=read-write`, the first that takes
    writes: the primary)."""
    secret = f":{password}" if password is not None else ""
    hosts = ",".join(f"127.0.0.1:{cluster.port}" for cluster in clusters)
    return f"postgresql://{user}{secret}@{hosts}/{database}" + (f"?{query}" if query else "")


@contextlib.contextmanager
def silent_address(port: int | None = None) -> Iterator[int]:
    """A port on 127.0.0.1 (`port`, or a free one) where connections are accepted by the kernel and never answered,
    as a database host whose machine is gone or cut off looks to a client, until it gives up on it: a listening
    socket nobody accepts on. The port, while the block runs."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port or 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[PostgresCluster]:
    """A cluster started and prepared (its password user, its migrated template), destroyed at the end however the
    block ends. Raises RuntimeError(NOT_INSTALLED) where PostgreSQL is not installed."""
    cluster = PostgresCluster(durable=durable)
    try:
        cluster.start()
        cluster.prepare()
        yield cluster
    finally:
        cluster.destroy()


@contextlib.contextmanager
def running_pair() -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    """A primary (started and prepared, as `running_cluster`'s) and its synchronous standby, both destroyed at the
    end however the block ends (the standby first: the primary's commits would wait for it otherwise, but it is
    stopped either way)."""
    with running_cluster() as primary:
        standby = primary.add_standby()
        try:
            yield primary, standby
        finally:
            standby.destroy()
