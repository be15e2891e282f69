"""Whether another connection — another process — has a SQLite database open, asked without waiting: what
`pavedroad sandbox` checks before it clears an earlier run's database, so it never deletes a running bot's."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def database_in_use(path: Path) -> bool:
    """True when the database at `path` is open elsewhere. In WAL mode every open connection holds a shared lock
    on the database, so an exclusive lock taken at once (timeout 0) fails exactly when someone else has it open."""
    if not path.exists():
        return False
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("SELECT count(*) FROM sqlite_master").fetchall()
        probe.execute("COMMIT")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()
