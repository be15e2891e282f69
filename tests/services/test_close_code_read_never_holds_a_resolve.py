"""Reading the instance's close codes never holds a resolve up: not even a failure nobody foresaw (a bug of ours, an
answer the adapter let through) — the resolve sets the catalogue's codes and the read is tried again later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.catalogue import example_catalogue_path, load_catalogue
from bot.ports import Tickets
from bot.services.close_code_choices import RETRY_SECONDS, CloseCodeChoices


class ChoicesThatBreak:
    """ServiceNow's side as the close-code read sees it: the first read fails in a way nobody foresaw, later ones
    answer the Utah choices."""

    def __init__(self) -> None:
        self.reads = 0

    async def close_code_choices(self) -> list[tuple[str, str]]:
        self.reads += 1
        if self.reads == 1:
            raise KeyError("value")
        return [("Solution provided", "Solution provided"), ("Duplicate", "Duplicate")]


async def test_an_unforeseen_failure_of_the_read_sets_the_catalogues_codes_and_reads_again_later(
        tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "d.db")
    await store.open()
    try:
        catalogue = load_catalogue(example_catalogue_path())
        clock = SettableClock(datetime(2026, 11, 25, 12, tzinfo=UTC), frozen=True)
        servicenow = ChoicesThatBreak()
        choices = CloseCodeChoices(store, cast(Tickets, servicenow), catalogue, clock)
        codes = await choices.codes()
        assert codes.close_code == catalogue.servicenow.close_code  # as configured: nothing read
        assert (await choices.codes()).close_code == catalogue.servicenow.close_code
        assert servicenow.reads == 1, "read again at once, at every resolve"
        clock.advance(timedelta(seconds=RETRY_SECONDS + 1))
        assert (await choices.codes()).close_code == "Solution provided"
    finally:
        await store.close()
