"""The operators hear of a close code the instance does not offer once a month while it lasts — on a replica that
runs for months too, not once per process start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import example_catalogue_path, load_catalogue
from bot.ports import Tickets
from bot.services.close_code_choices import TOLD_SECONDS, CloseCodeChoices
from tests.helpers import rows


class UtahChoices:
    """ServiceNow's side as the close-code read sees it: an instance of Utah or later, where the catalogue's default
    `Solved (Permanently)` is no choice."""

    async def close_code_choices(self) -> list[tuple[str, str]]:
        return [("Solution provided", "Solution provided"), ("Duplicate", "Duplicate")]


def alerts(db: Path) -> int:
    return len([r for r in rows(db, "SELECT payload FROM outbox WHERE kind = 'alert_operators'")
                if "close codes" in r["payload"]])


async def test_a_long_running_replica_tells_the_operators_again_once_the_month_is_over(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    store = SqliteStore(db)
    await store.open()
    try:
        clock = SettableClock(datetime(2026, 11, 25, 12, tzinfo=UTC), frozen=True)
        choices = CloseCodeChoices(store, cast(Tickets, UtahChoices()), load_catalogue(example_catalogue_path()),
                                   clock)
        assert (await choices.codes()).close_code == "Solution provided"
        await choices.codes()
        assert alerts(db) == 1
        clock.advance(timedelta(days=10))
        await choices.codes()
        assert alerts(db) == 1, "told again within the month"
        clock.advance(timedelta(seconds=TOLD_SECONDS))
        await choices.codes()
        assert alerts(db) == 2, "never told again while this replica runs"
    finally:
        await store.close()
