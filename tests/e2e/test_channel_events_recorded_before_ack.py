"""What people do to an incident's channel (renamed, its card unpinned, the bot invited back) is recorded in the
store before Slack is answered, and what Slack must then be asked is an outbox effect, retried: nothing the event
tells the bot is lost once Slack's delivery was acknowledged (commands/listeners.py `_recorded_before_ack`,
bot/services/channel_events.py).

Slack retries an event only when its delivery was not acknowledged. Acknowledged first and handled after, a rename
whose conversations.info Slack failed was lost for good — the ticket and its close notes kept naming a channel gone
from Slack — and so was any of the three events the store refused to record after the ack. The store's refusal here
is SQLite's own: a trigger on the bot's database file that aborts a write, while the rest of the store answers."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from typing import Any

import pytest

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from bot.domain.effects.slack import LearnBotBack, LearnChannelName, RefreshCard
from bot.services.retries import RetryPolicy
from commands.repeats import Repeats
from sandbox.faults import Fault
from sandbox.slack.channel_acts import invite_as_person, rename_as_person, unpin_as_person
from sandbox.slack.person import deliver_envelope, event_envelope
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, card, eventually, incident_channels, state, trigger
from tests.e2e.servicenow_helpers import bot_notes, renamed_in_slack, settle_all, ticket_for
from tests.helpers import QUIET_TIME, StartSandbox

ASHA = "asha.patel@example.com"
REFUSE_QUEUEING = ("CREATE TRIGGER refuse_queueing BEFORE INSERT ON outbox"
                   " BEGIN SELECT RAISE(ABORT, 'the disk refused the write'); END")


def on_the_file(running: RunningSandbox, sql: str) -> None:
    with sqlite3.connect(running.bot.settings.db_path) as conn:
        conn.execute(sql)


def outbox_kinds(running: RunningSandbox, incident_id: str, kind: str) -> list[str]:
    """The states of the incident's effects of `kind`, in the order they were queued."""
    with sqlite3.connect(running.bot.settings.db_path) as conn:
        return [str(row[0]) for row in conn.execute(
            "SELECT state FROM outbox WHERE incident_id = ? AND kind = ? ORDER BY seq", (incident_id, kind))]


def slack_channel(running: RunningSandbox, channel_id: str) -> dict[str, Any]:
    return next(c for c in state(running)["slack"]["channels"] if c["id"] == channel_id)


def slack_line(ticket: dict[str, Any]) -> str:
    return next(line for line in str(ticket["description"]).splitlines() if line.startswith("Slack: #"))


def rename_notes(running: RunningSandbox, incident_id: str) -> list[str]:
    return [note for note in bot_notes(ticket_for(running, incident_id)) if "renamed" in note]


async def an_incident(running: RunningSandbox) -> tuple[str, dict[str, Any]]:
    """An open incident with its channel and ticket: its id and its channel."""
    incident = await trigger(running)
    await settle_all(running)
    [channel] = incident_channels(running)
    return str(incident["id"]), channel


async def test_a_rename_whose_read_slack_failed_at_first_is_learnt_on_the_retry(sandbox: RunningSandbox) -> None:
    """Slack failed the conversations.info the rename's handler asked after its ack: the name was never learnt, the
    ticket's `Slack: #…` line and close notes kept the name the bot made the channel with."""
    iid, channel = await an_incident(sandbox)
    failed = Fault("slack", "conversations.info", status=500, times=1)
    sandbox.sandbox.faults.add(failed)
    renamed = f"{channel['name']}-checkout-db"
    await renamed_in_slack(sandbox, channel["id"], renamed)
    assert failed.times == 0, "the read did not fail"
    assert (await sandbox.bot.store.footprint(iid)).channel_name == renamed
    assert slack_line(ticket_for(sandbox, iid)).startswith(f"Slack: #{renamed} (")
    [said] = rename_notes(sandbox, iid)
    assert f"#{channel['name']} was renamed #{renamed}" in said, said
    assert await sandbox.bot.store.dead_effects(iid) == []


async def test_a_channel_renamed_again_before_its_first_rename_is_learnt_is_named_as_slack_has_it(
        sandbox: RunningSandbox) -> None:
    """Renamed twice, the first rename's read failing: its retry reads the name Slack has then, and the second rename's
    event finds it learnt already (one note on the ticket, naming the latest name)."""
    iid, channel = await an_incident(sandbox)
    slack = sandbox.sandbox.slack
    first = event_envelope(slack, rename_as_person(slack, ASHA, channel["id"], f"{channel['name']}-db").events[0])
    latest = f"{channel['name']}-checkout-db"
    second = event_envelope(slack, rename_as_person(slack, ASHA, channel["id"], latest).events[0])
    sandbox.sandbox.faults.add(Fault("slack", "conversations.info", status=500, times=1))
    for envelope in (first, second):
        assert (await deliver_envelope(slack, envelope))["status"] == 200
    await settle_all(sandbox)
    assert (await sandbox.bot.store.footprint(iid)).channel_name == latest
    [said] = rename_notes(sandbox, iid)
    assert f"was renamed #{latest}" in said, said
    assert outbox_kinds(sandbox, iid, LearnChannelName.kind) == ["done", "done"]


async def test_a_rename_of_a_channel_deleted_before_it_is_learnt_changes_nothing(sandbox: RunningSandbox) -> None:
    iid, channel = await an_incident(sandbox)
    slack = sandbox.sandbox.slack
    [event] = rename_as_person(slack, ASHA, channel["id"], f"{channel['name']}-db").events
    slack.delete_channel_as_admin(channel["id"])
    assert (await deliver_envelope(slack, event_envelope(slack, event)))["status"] == 200
    await settle_all(sandbox)
    assert (await sandbox.bot.store.footprint(iid)).channel_name == channel["name"]
    assert rename_notes(sandbox, iid) == []
    assert outbox_kinds(sandbox, iid, LearnChannelName.kind) == ["done"]
    assert await sandbox.bot.store.dead_effects(iid) == []


async def renamed(running: RunningSandbox, iid: str, channel: dict[str, Any]) -> None:
    assert (await running.bot.store.footprint(iid)).channel_name == f"{channel['name']}-checkout-db"
    assert slack_line(ticket_for(running, iid)).startswith(f"Slack: #{channel['name']}-checkout-db (")


async def card_pinned_again(running: RunningSandbox, iid: str, channel: dict[str, Any]) -> None:
    assert card(running, channel)["ts"] in slack_channel(running, channel["id"])["pins"]
    assert (await running.bot.store.footprint(iid)).card_pinned


async def topic_set_again(running: RunningSandbox, iid: str, channel: dict[str, Any]) -> None:
    assert slack_channel(running, channel["id"])["topic"].startswith("🟠 Acknowledged · ")
    assert not (await running.bot.store.footprint(iid)).bot_removed


async def the_act(running: RunningSandbox, which: str, iid: str, channel: dict[str, Any]) -> dict[str, Any]:
    """A person's act on the incident's channel in the sandbox Slack: the envelope of the event it gives the bot (not
    delivered yet)."""
    slack = running.sandbox.slack
    if which == "rename":
        events = rename_as_person(slack, ASHA, channel["id"], f"{channel['name']}-checkout-db").events
    elif which == "unpin":
        events = unpin_as_person(slack, ASHA, channel["id"], card(running, channel)["ts"]).events
    else:  # the bot removed from the channel, the removal learnt by a refused topic call, then invited back
        room = slack.find_channel(channel["id"])
        assert room is not None
        room.members.remove(slack.bot.id)
        await act(running, iid, "acknowledge", user=ASHA)
        assert (await running.bot.store.footprint(iid)).bot_removed
        events = invite_as_person(slack, ASHA, channel["id"], "pavedroad").events
    [event] = events
    return event_envelope(slack, event)


APPLIED = {"rename": renamed, "unpin": card_pinned_again, "invited back": topic_set_again}


@pytest.mark.parametrize(("which", "socket_mode"), [("rename", False), ("rename", True), ("unpin", False),
                                                    ("invited back", False)],
                         ids=["rename-http", "rename-socket-mode", "unpin", "invited-back"])
async def test_a_channel_event_the_store_refused_is_not_acknowledged_and_its_resend_is_applied(
        start_sandbox: StartSandbox, which: str, socket_mode: bool, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_sandbox(socket_mode=socket_mode)
    slack = running.sandbox.slack
    iid, channel = await an_incident(running)
    envelope = await the_act(running, which, iid, channel)

    on_the_file(running, REFUSE_QUEUEING)
    refused = await deliver_envelope(slack, envelope)
    assert refused["status"] != 200, "acknowledged though nothing was recorded: Slack would never send it again"
    assert "answered 500, so Slack sends it again" in caplog.text
    assert errors_logged(caplog) == []  # a WARNING: Slack mends it by itself, no one need act
    on_the_file(running, "DROP TRIGGER refuse_queueing")

    # Slack's retry (at once, then after a minute and after five) is acted on, not dropped as a repeat.
    assert (await deliver_envelope(slack, envelope, retry=1, reason="http_error"))["status"] == 200
    await settle_all(running)
    await APPLIED[which](running, iid, channel)
    assert await running.bot.store.dead_effects(iid) == []


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the Slack request's path logged as ERRORs: the listeners, and the web door, which logged its own "slack
    request failed inside Bolt" for the listeners' deliberate 500 too (bot/app/web.py), an ERROR beside their WARNING
    that Slack mends it. (A scheduled job writing while the store refuses logs its own.)"""
    return [record.getMessage() for record in caplog.records
            if record.levelno >= logging.ERROR and record.name in ("commands.listeners", "bot.app.web")]


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
async def test_a_rename_the_store_refused_on_slacks_last_retry_is_logged_as_lost(
        start_sandbox: StartSandbox, socket_mode: bool, caplog: pytest.LogCaptureFixture) -> None:
    """Slack sends an event again three times at most (at once, after a minute, after five): refused on the third
    retry, it is lost. The log said "answered 500, so Slack sends it again" every time, the last too, and nobody
    learnt that the ticket may keep naming the channel by its earlier name."""
    running = await start_sandbox(socket_mode=socket_mode)
    iid, channel = await an_incident(running)
    envelope = await the_act(running, "rename", iid, channel)
    on_the_file(running, REFUSE_QUEUEING)
    assert (await deliver_envelope(running.sandbox.slack, envelope))["status"] != 200
    assert "answered 500, so Slack sends it again" in caplog.text
    assert errors_logged(caplog) == []  # Slack mends it by itself

    assert (await deliver_envelope(running.sandbox.slack, envelope, retry=3, reason="http_error"))["status"] != 200
    [lost] = errors_logged(caplog)
    assert "last retry" in lost and "it is lost" in lost and channel["id"] in lost, lost
    assert "rename the channel again" in lost and "`Slack: #…` line" in lost, lost


async def test_a_rename_is_learnt_though_a_replica_that_died_had_claimed_its_event(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """A replica took the rename's first delivery, as every event was claimed, and died before handling it: Slack's
    retry, here, was answered as a repeat, and the rename never learnt."""
    running = await start_sandbox()
    iid, channel = await an_incident(running)
    envelope = await the_act(running, "rename", iid, channel)
    died = Bot(running.bot.settings, catalogue, clock=running.bot.clock, replica_id="died")
    await died.store.open()
    try:
        assert await Repeats(died.store, died.clock).claim_event(str(envelope["event_id"])) is not None
    finally:
        await died.stop()
    assert (await deliver_envelope(running.sandbox.slack, envelope, retry=1))["status"] == 200
    await settle_all(running)
    await renamed(running, iid, channel)


async def test_a_rename_learnt_again_writes_nothing_more(sandbox: RunningSandbox) -> None:
    """The rename's effect performed again (Slack's retry of an event whose 200 came late records it a second time;
    an attempt whose outcome was lost runs again) finds the name learnt: no footprint write, no ticket sync queued —
    each of which the store here refuses, so that one made would fail the effect."""
    iid, channel = await an_incident(sandbox)
    envelope = await the_act(sandbox, "rename", iid, channel)
    assert (await deliver_envelope(sandbox.sandbox.slack, envelope))["status"] == 200
    await settle_all(sandbox)
    await renamed(sandbox, iid, channel)
    notes = rename_notes(sandbox, iid)
    assert len(notes) == 1, notes

    on_the_file(sandbox, "CREATE TRIGGER name_written_twice BEFORE UPDATE OF channel_name ON incident_slack"
                         " BEGIN SELECT RAISE(ABORT, 'the name written twice'); END")
    on_the_file(sandbox, "CREATE TRIGGER ticket_told_twice BEFORE INSERT ON outbox WHEN NEW.kind = 'sync_ticket'"
                         " BEGIN SELECT RAISE(ABORT, 'the ticket told twice'); END")
    assert (await deliver_envelope(sandbox.sandbox.slack, envelope, retry=1))["status"] == 200
    await sandbox.bot.store.queue_effect(LearnChannelName(iid, channel["id"]), sandbox.bot.clock.now().timestamp())
    await settle_all(sandbox)
    assert outbox_kinds(sandbox, iid, LearnChannelName.kind) == ["done", "done", "done"]
    assert await sandbox.bot.store.dead_effects(iid) == []
    assert rename_notes(sandbox, iid) == notes
    await renamed(sandbox, iid, channel)


async def test_a_rename_outlasts_more_failed_reads_than_the_bots_attempts(start_sandbox: StartSandbox) -> None:
    """Slack sends the event once: the read it asks for is as patient as a marked message's (bot/app/runtime.py's
    policies), not given up on after the bot's few attempts for a card or a line."""
    running = await start_sandbox(retry_policy=RetryPolicy(max_attempts=1, base_seconds=0.01, max_seconds=0.01))
    iid, channel = await an_incident(running)
    failed = Fault("slack", "conversations.info", status=500, times=3)
    running.sandbox.faults.add(failed)
    renamed = f"{channel['name']}-checkout-db"
    await renamed_in_slack(running, channel["id"], renamed)
    assert failed.times == 0, "the reads did not fail"
    assert (await running.bot.store.footprint(iid)).channel_name == renamed
    assert await running.bot.store.dead_effects(iid) == []


OUTAGE = Fault("slack", "auth.test", status=503, until=QUIET_TIME.timestamp() + 86_400)


@pytest.mark.parametrize("which", ["unpin", "invited back"])
async def test_a_channel_event_bolt_cannot_tell_the_bots_own_is_recorded_without_asking_slack_first(
        start_sandbox: StartSandbox, which: str) -> None:
    """Bolt knows the bot's user from auth.test once the bot has started, or from the event's `authorizations`:
    started in a Slack outage (auth.test failing), an event naming no bot installation left it unknown, and the
    handler asked auth.test before the ack — failing, answered 500, the event lost to the outage. Nothing before the
    ack asks Slack now: an unpin by a user not known for the bot's is someone's (the bot never unpins its cards); a
    join is not taken for the bot's (the next topic to set asks Slack whether it is back). (In such an outage the
    incident's channel opens with its card pinned, while what looks for the bot's own messages fails for good: its
    announcement.)"""
    running = await start_sandbox(faults=[replace(OUTAGE)])
    iid, channel = await an_incident(running)
    envelope = await the_act(running, which, iid, channel)
    del envelope["authorizations"]
    assert (await deliver_envelope(running.sandbox.slack, envelope))["status"] == 200
    await settle_all(running)
    if which == "unpin":
        await card_pinned_again(running, iid, channel)
    else:
        assert (await running.bot.store.footprint(iid)).bot_removed
        assert outbox_kinds(running, iid, LearnBotBack.kind) == []


def footprint_channel(running: RunningSandbox, incident_id: str) -> str | None:
    """The channel the incident's footprint names now, read from the bot's file (no wait on the bot's event loop)."""
    with sqlite3.connect(running.bot.settings.db_path) as conn:
        row = conn.execute("SELECT channel_id FROM incident_slack WHERE incident_id = ?", (incident_id,)).fetchone()
    return None if row is None else row[0]


async def test_a_rename_read_while_the_incident_moves_to_a_new_channel_names_the_new_one_no_other(
        sandbox: RunningSandbox) -> None:
    """Found in review: the channel renamed `zz-old`, then archived; the rename's effect asks Slack its name (slow,
    Slack's rate budget) while the incident's Slack queue finds the channel archived and opens a new one. The effect
    saved `zz-old` by the incident's id alone — over the new channel's name — and told the ticket: `Slack: #zz-old`
    linking to the new channel."""
    iid, channel = await an_incident(sandbox)
    slack, faults = sandbox.sandbox.slack, sandbox.sandbox.faults
    slow = Fault("slack", "conversations.info", times=0, latency_ms=600_000, with_field="channel",
                 with_text=channel["id"])  # the old channel's reads only
    faults.add(slow)
    [event] = rename_as_person(slack, ASHA, channel["id"], "zz-old").events
    assert (await deliver_envelope(slack, event_envelope(slack, event)))["status"] == 200
    await eventually(lambda: faults.held["slack"] >= 1)  # the rename's effect is asking Slack

    archived = slack.find_channel(channel["id"])
    assert archived is not None
    archived.is_archived = True  # by a person; the card's next refresh finds it so, and opens a new channel
    await sandbox.bot.store.queue_effect(RefreshCard(iid), sandbox.bot.clock.now().timestamp())
    sandbox.bot.dispatcher.wake()
    await eventually(lambda: footprint_channel(sandbox, iid) not in (None, channel["id"]))

    faults.rules.remove(slow)
    faults.release_held("slack")  # Slack answers the rename's read: the old channel, `zz-old`
    await settle_all(sandbox)
    footprint = await sandbox.bot.store.footprint(iid)
    new = slack.find_channel(str(footprint.channel_id))
    assert new is not None and new.id != channel["id"]
    assert footprint.channel_name == new.name != "zz-old"
    line = slack_line(ticket_for(sandbox, iid))
    assert line.startswith(f"Slack: #{new.name} ("), line
    with sqlite3.connect(sandbox.bot.settings.db_path) as conn:
        told = conn.execute("SELECT count(*) FROM outbox WHERE incident_id = ? AND kind = 'sync_ticket'"
                            " AND json_extract(payload, '$.channel_renamed')", (iid,)).fetchone()[0]
    assert told == 0, "the ticket was told the old channel's rename"
    assert outbox_kinds(sandbox, iid, LearnChannelName.kind) == ["done"]
    assert await sandbox.bot.store.dead_effects(iid) == []
