"""A throwaway PostgreSQL cluster for the tests and the benchmarks: `initdb` in a temporary directory, started with
`pg_ctl` on a free port (its unix socket in that directory too), stopped and removed at the end.

PostgreSQL refuses to run as root, and CI runs as root: there every PostgreSQL command runs as the `postgres` system
user (`runuser -u postgres -- …`) and the directory is given to that user; otherwise the commands run directly. The
binaries are found on PATH, then in /usr/lib/postgresql/<version>/bin (Debian's `postgresql` package).

Each test gets a database of its own, copied from a migrated template (`fresh_database`), which takes a fraction of
a second. Two roles: `postgres` (trusted, no password) and `PASSWORD_USER`, who must give `PASSWORD` (SCRAM) — for
the tests that a password never shows in a message.
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
from collections.abc import Iterator
from pathlib import Path

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

    def __init__(self, *, durable: bool = False) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError(NOT_INSTALLED)
        self.bin = bin_dir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="pavedroad-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._initdb()

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, str(self.bin / command[0]), *command[1:]], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                  "--no-sync")
        settings = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                    "unix_socket_directories": f"'{self.root}'", "max_connections": "300",
                    "fsync": "on" if self.durable else "off", "full_page_writes": "on" if self.durable else "off",
                    "synchronous_commit": "on", "log_min_messages": "warning"}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n", encoding="utf-8")

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
