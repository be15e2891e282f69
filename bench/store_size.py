"""What a bench's database keeps per incident before and after retention (issue 16, item 3), for bench/soak.py's
`--retention-days D`: once the bot has stopped, its database is pruned by the retention job's own code
(bot/services/retention.py over the SQLite store) as if every settled row were D days old or more — D = 0 prunes
all the settled bookkeeping — and compacted copies (VACUUM INTO) of it before and after are measured, so that free
pages and the WAL count in neither. Also runnable on its own: `python bench/store_size.py DB [--retention-days D]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.adapters.clock import SystemClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import example_catalogue_path, load_catalogue
from bot.services.retention import Retention

TABLES = ("incidents", "timeline", "incident_slack", "tickets", "inbox", "outbox")


def compact_sizes(db: Path) -> tuple[int, dict[str, int]]:
    """The database's size once compacted — what its rows and indexes take, free pages and WAL left out — and how
    that divides among its tables (each with its indexes; SQLite's dbstat)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "compact.db"
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("VACUUM INTO ?", (str(copy),))
        with contextlib.closing(sqlite3.connect(copy)) as conn:
            tables = dict(conn.execute("SELECT m.tbl_name, sum(d.pgsize) FROM dbstat d JOIN sqlite_master m"
                                       " ON m.name = d.name GROUP BY m.tbl_name ORDER BY 2 DESC").fetchall())
        return copy.stat().st_size, tables


def row_counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES}


async def measure_retention(db: Path, days: float, incidents: int) -> dict[str, Any]:
    """Prune the (stopped) bot's database as retention with `days` would, and what it keeps per incident."""
    (before, tables_before), rows_before = compact_sizes(db), row_counts(db)
    store = SqliteStore(db)
    await store.open()
    try:
        retention = Retention(store, load_catalogue(example_catalogue_path()), SystemClock())
        now = time.time()
        started = time.process_time()
        pruned = await retention.prune_settled_before(now - days * 86_400, now)
        prune_cpu_s = time.process_time() - started
    finally:
        await store.close()
    after, tables_after = compact_sizes(db)

    def per_incident(tables: dict[str, int]) -> dict[str, int]:
        return {table: round(size / incidents) for table, size in tables.items()}
    return {"retention_days": days, "db_bytes_per_incident_compact": round(before / incidents),
            "db_bytes_per_incident_after_retention": round(after / incidents),
            "table_bytes_per_incident_before": per_incident(tables_before),
            "table_bytes_per_incident_after": per_incident(tables_after),
            "rows_before_retention": rows_before, "rows_after_retention": row_counts(db),
            "pruned_rows": pruned, "prune_cpu_s": round(prune_cpu_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--retention-days", type=float, default=0.0)
    parser.add_argument("--incidents", type=int, default=None, help="default: the incidents in the database")
    args = parser.parse_args()
    incidents = args.incidents or row_counts(args.db)["incidents"]
    print(json.dumps(asyncio.run(measure_retention(args.db, args.retention_days, incidents)), indent=2))


if __name__ == "__main__":
    main()
