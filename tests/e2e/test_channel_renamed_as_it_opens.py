"""The incident's channel renamed in Slack in the instant between the bot making it and its opening saving it: the
`channel_rename` event was handled while no incident named the channel, and dropped; the bot kept the name it made the
channel with, which no longer exists in Slack (the ticket's close notes named it). Run on the real SQLite store,
whose write of the new channel waits until the rename's event has been handled (bot/services/channel_events.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Unpack

import pytest

from bot.adapters.store.sqlite.store import SqliteStore
from bot.app import runtime
from bot.ports.store import FootprintChange, Store
from sandbox.slack.channel_acts import rename_as_person
from sandbox.slack.person import deliver_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, incident_channels, slack_user, trigger
from tests.e2e.servicenow_helpers import settle_all, ticket_for
from tests.helpers import StartSandbox

ASHA = "asha.patel@example.com"
HANDLED_WITHIN = 10.0  # seconds: the rename's event handled by the bot (a bound on a hang, not a measure)


class RenamedAsItOpens(SqliteStore):
    """The bot's real store. As the opening saves the incident's new channel, Asha (who joined the public channel at
    once) renames it first, and the write waits until the bot has handled the rename's event."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.running: RunningSandbox | None = None
        self.renamed_to: str | None = None

    async def update_footprint(self, incident_id: str, **changes: Unpack[FootprintChange]) -> None:
        channel_id = changes.get("channel_id")
        if channel_id and self.running is not None and self.renamed_to is None:
            self.renamed_to = await self.renames_first(self.running, channel_id)
        await super().update_footprint(incident_id, **changes)

    @staticmethod
    async def renames_first(running: RunningSandbox, channel_id: str) -> str:
        slack = running.sandbox.slack
        channel = slack.find_channel(channel_id)
        assert channel is not None
        asha = slack_user(running, ASHA)
        if asha not in channel.members:
            channel.members.append(asha)  # (Slack's "Join channel": the app hears of it and does nothing)
        name = f"{channel.name}-checkout-db"
        [event] = rename_as_person(slack, ASHA, channel_id, name).events
        assert (await deliver_event(slack, event))["status"] == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANDLED_WITHIN
        while any(w.kind == "channel renamed" for w in running.bot.in_flight.under_way_now()):
            assert loop.time() < deadline, "the rename's event was not handled"
            await asyncio.sleep(0.01)
        return name


async def test_a_channel_renamed_before_its_opening_saved_it_is_named_by_its_new_name(
        start_sandbox: StartSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    stores: list[RenamedAsItOpens] = []

    def build_store(database_url: str | None, db_path: Path) -> Store:
        stores.append(RenamedAsItOpens(db_path))
        return stores[-1]

    monkeypatch.setattr(runtime, "build_store", build_store)
    running = await start_sandbox()
    [store] = stores
    store.running = running
    incident = await trigger(running)
    [channel] = incident_channels(running)
    assert store.renamed_to is not None and channel["name"] == store.renamed_to
    assert (await running.bot.store.footprint(incident["id"])).channel_name == store.renamed_to

    await act(running, incident["id"], "resolve", user=ASHA)
    await settle_all(running)
    notes = ticket_for(running, incident["id"])["close_notes"]
    assert f"Slack channel: #{store.renamed_to} " in notes, notes
