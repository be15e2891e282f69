"""The history read from a SQLite file that is another application's (bot/adapters/store/sqlite/report_history.py,
report_reads.py): said to be not the bot's database, not to be seeded (which `pavedroad history seed` refuses)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from bot.adapters.store.sqlite.report_history import read_history
from bot.ports.report_aggregates import HistoryError


def test_another_applications_database_is_not_the_bots(tmp_path: Path) -> None:
    other = tmp_path / "crm.db"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
        with pytest.raises(HistoryError) as refused:
            read_history(conn)
    assert str(refused.value) == (f"{other} is not the bot's database (it holds other tables): give --db the file "
                                  "the bot runs on ($PAVEDROAD_DB or pavedroad.db; the sandbox's is sandbox.db)")


def test_an_empty_database_may_still_be_seeded(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "new.db")) as conn, pytest.raises(HistoryError) as refused:
        read_history(conn)
    assert "has no incident history" in str(refused.value) and "pavedroad history seed --db PATH" in str(refused.value)
