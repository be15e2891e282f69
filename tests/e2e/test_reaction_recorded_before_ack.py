"""A 📌 reaction is recorded before Slack is answered: the store refusing the record answers 500 (HTTP) or leaves
the Socket Mode envelope unacknowledged, so Slack sends the event again, and the retry marks the key message — once.

Slack retries an event only when its delivery was not acknowledged. Acknowledged first and recorded after, a mark the
store refused (a database failing over, a disk full) was lost for good. The store's refusal here is SQLite's own: a
trigger on the bot's database file that aborts an insert of a Slack-sourced inbox row, while the rest of the store
(the incident channel's footprint) answers.

A reaction takes no once-per-event claim: Slack's retry of one whose first delivery is still being recorded, or was
taken by a replica that died, records it itself instead of being answered as a repeat (and never sent again)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from commands.repeats import Repeats
from sandbox.slack.person import deliver_envelope, event_envelope, post_as_person, react_as_person
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import incident_channels, trigger
from tests.e2e.servicenow_helpers import settle_all
from tests.helpers import StartSandbox

ASHA, BEN = "asha.patel@example.com", "ben.okafor@example.com"
KEY_MESSAGE = "Rolled back 4.2.1 at 10:02 — checkout error rate is back under 0.1%"
REFUSE = ("CREATE TRIGGER refuse_slack_records BEFORE INSERT ON inbox WHEN NEW.source = 'slack'"
          " BEGIN SELECT RAISE(ABORT, 'the disk refused the write'); END")


def on_the_file(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)


async def key_messages(running: RunningSandbox, incident_id: str) -> list[str]:
    return [e.text for e in await running.bot.store.timeline(incident_id) if e.kind == "key_message"]


async def a_marked_message(running: RunningSandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """An incident, and the envelope of Slack's `reaction_added` for a 📌 on a person's message in its channel (not
    delivered yet)."""
    slack = running.sandbox.slack
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    await settle_all(running)
    [channel] = incident_channels(running)
    posted = post_as_person(slack, BEN, channel["id"], KEY_MESSAGE)
    [reaction] = react_as_person(slack, ASHA, channel["id"], posted.message.ts, "pushpin").events
    return incident, event_envelope(slack, reaction)


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
async def test_a_reaction_the_store_refused_is_not_acknowledged_and_its_retry_marks_the_message_once(
        start_sandbox: StartSandbox, socket_mode: bool, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_sandbox(socket_mode=socket_mode)
    slack, db = running.sandbox.slack, running.bot.settings.db_path
    incident, envelope = await a_marked_message(running)

    on_the_file(db, REFUSE)
    refused = await deliver_envelope(slack, envelope)
    assert refused["status"] != 200, "acknowledged though nothing was recorded: Slack would never send it again"
    assert "answered 500, so Slack sends it again" in caplog.text
    on_the_file(db, "DROP TRIGGER refuse_slack_records")
    await settle_all(running)
    assert await key_messages(running, incident["id"]) == []

    # Slack's retry (at once, then after a minute and after five) is acted on, not dropped as a repeat.
    assert (await deliver_envelope(slack, envelope, retry=1, reason="http_error"))["status"] == 200
    await settle_all(running)
    assert await key_messages(running, incident["id"]) == [f"📌 Ben Okafor: {KEY_MESSAGE}"]
    # Recorded now: a further retry changes nothing.
    assert (await deliver_envelope(slack, envelope, retry=2, reason="http_error"))["status"] == 200
    await settle_all(running)
    assert await key_messages(running, incident["id"]) == [f"📌 Ben Okafor: {KEY_MESSAGE}"]


async def test_a_retry_records_the_mark_though_a_replica_that_died_had_claimed_the_event(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    running = await start_sandbox()
    slack = running.sandbox.slack
    incident, envelope = await a_marked_message(running)
    # Another replica on the same store took the first delivery, as every event is taken, and died before recording
    # it: its claim is held until its lease runs out. Slack, unanswered, sends the event again — here.
    died = Bot(running.bot.settings, catalogue, clock=running.bot.clock, replica_id="died")
    await died.store.open()
    try:
        assert await Repeats(died.store, died.clock).claim_event(str(envelope["event_id"])) is not None
    finally:
        await died.stop()
    assert (await deliver_envelope(slack, envelope, retry=1))["status"] == 200
    await settle_all(running)
    assert await key_messages(running, incident["id"]) == [f"📌 Ben Okafor: {KEY_MESSAGE}"]
