"""The bot stopped (SIGTERM: a rolling deploy, a restart) while an engineer's command is under way, through the
emulators. What Slack was told is accepted is finished and answered before the bot stops, within the drain's budget;
what is still running after it is cut short and logged, so that someone can find it; what arrives once the stop has
begun is refused in a way its sender acts on (PagerDuty and Slack deliver it again, a person is told to send the
command again), and nothing is written to a store being closed.

PagerDuty's answer is held by a latency fault until the test releases it: that the stop had begun and not ended
while a call was held, or had ended with the call still held, is an order of events, not a timing."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.render.card import ACKNOWLEDGE
from sandbox.faults import Fault
from sandbox.slack.person import post_as_person
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    answers,
    as_user,
    card,
    eventually,
    incident_channels,
    settle,
    slack_user,
    state,
    trigger,
)
from tests.helpers import StartSandbox, incident_event, rows, sign

ASHA = "asha.patel@example.com"
# Longer than the test needs the call held, shorter than the bot's PagerDuty timeout (10 s): the test releases it.
HELD_MS = 8000
NOTE = "Rolled back the 10:02 deploy"
# A drain far shorter than the held call: the call outlasts it, whatever the machine's load.
SHORT_DRAIN_SECONDS = 0.3


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> AsyncIterator[RunningSandbox]:
    """The sandbox, whose server and emulators are closed after the test: the test stops the bot itself, and the
    shared teardown closes only a sandbox whose bot still runs."""
    running = await start_sandbox()
    yield running
    await running.stop()  # the bot's own stop again: done already, it returns at once


async def incident_and_channel(running: RunningSandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    channel = next(c for c in incident_channels(running) if c["name"].startswith(f"inc-{incident['incident_number']}-"))
    # The App Homes the new channel refreshes ask PagerDuty too: done first, so that the call held is the command's.
    await eventually(lambda: running.bot.home.publishing == 0)
    return incident, channel


def hold(running: RunningSandbox, path: str) -> Fault:
    """Hold PagerDuty's answers on `path` until `release`."""
    held = Fault("pagerduty", path, times=0, latency_ms=HELD_MS)
    running.sandbox.faults.add(held)
    return held


def release(running: RunningSandbox, held: Fault) -> None:
    running.sandbox.faults.rules.remove(held)
    running.sandbox.faults.release_held()


async def begin_stop(running: RunningSandbox) -> asyncio.Future[None]:
    """Ask the bot to stop, as SIGTERM does, and return once the stop has begun (its scheduler shut down, the first
    thing a stop does)."""
    stopping = asyncio.ensure_future(running.bot.stop())
    await eventually(lambda: running.bot.scheduler is None)
    return stopping


def pd_incident(running: RunningSandbox, incident_id: str) -> dict[str, Any]:
    return next(i for i in state(running)["pagerduty"]["incidents"] if i["id"] == incident_id)


def pd_notes(running: RunningSandbox, incident_id: str) -> list[str]:
    return [n["content"] for n in state(running)["pagerduty"]["notes"] if n["incident_id"] == incident_id]


async def click_acknowledge(running: RunningSandbox, channel: dict[str, Any]) -> dict[str, Any]:
    pinned = card(running, channel)
    return await as_user(running, "action", user=ASHA, channel=channel["id"], message_ts=pinned["ts"],
                         action_id=ACKNOWLEDGE)


@pytest.mark.parametrize(("how", "done"), [
    # Runs in Bolt's listener after the ack (a resolve may open a form, so it is not queued).
    ("resolve", lambda i, notes: i["status"] == "resolved" and notes == [f"Resolution: {NOTE}"]),
    # Queued for the follow-up workers.
    ("note", lambda i, notes: notes == [NOTE]),
    # The card's button: Bolt's listener after the ack.
    ("button", lambda i, notes: i["status"] == "acknowledged"),
])
async def test_a_command_under_way_when_the_bot_stops_is_finished_and_answered_before_it_stops(
        sandbox: RunningSandbox, how: str, done: Any) -> None:
    incident, channel = await incident_and_channel(sandbox)
    held = hold(sandbox, "/incidents")
    try:
        if how == "button":
            sent = await click_acknowledge(sandbox, channel)
        else:
            sent = await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text=f"{how} {NOTE}")
        await eventually(lambda: sandbox.sandbox.faults.held["pagerduty"] == 1)
        stopping = await begin_stop(sandbox)
        assert not stopping.done(), "the bot stopped with the command still waiting for PagerDuty"
    finally:
        release(sandbox, held)
    await stopping
    # Answered before the bot had stopped: read now, not eventually.
    told = html.unescape(answers(sandbox, sent))
    expected = {"resolve": "✅ Resolved #", "note": "📝 Note added to #", "button": "✅ Acknowledged #"}[how]
    assert expected in told and "⚠️" not in told, told
    assert done(pd_incident(sandbox, incident["id"]), pd_notes(sandbox, incident["id"]))


async def test_a_form_checked_late_when_the_bot_stops_is_acted_on_and_told_before_it_stops(
        sandbox: RunningSandbox) -> None:
    # The form's check (who Asha is in PagerDuty) is held past Slack's deadline: the form closes and the check goes
    # on after the ack (commands/form_checks.py), which is when the stop comes.
    incident, channel = await incident_and_channel(sandbox)
    opened = await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text="resolve")
    await settle(sandbox)
    [view] = opened["views_opened"]
    await eventually(lambda: sandbox.bot.home.publishing == 0)
    held = hold(sandbox, "/users")
    try:
        submitted = await as_user(sandbox, "view_submission", user=ASHA, view_id=view["id"],
                                  values={"resolution": {"text": NOTE}})
        assert submitted["view_outcome"] == "closed" and sandbox.sandbox.faults.held["pagerduty"] == 1
        stopping = await begin_stop(sandbox)
        assert not stopping.done(), "the bot stopped with the form's check still waiting for PagerDuty"
    finally:
        release(sandbox, held)
    await stopping
    asha = slack_user(sandbox, ASHA)
    told = [html.unescape(m["text"]) for m in state(sandbox)["slack"]["messages"] if m["ephemeral_to"] == asha]
    assert any("✅ Resolved #" in text for text in told), told
    assert pd_incident(sandbox, incident["id"])["status"] == "resolved"
    assert pd_notes(sandbox, incident["id"]) == [f"Resolution: {NOTE}"]


async def test_a_command_still_held_when_the_drain_ends_is_cut_short_and_logged(
        start_sandbox: StartSandbox, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_sandbox()
    running.bot.drain_seconds = SHORT_DRAIN_SECONDS
    try:
        await cut_short(running, caplog)
    finally:
        await running.stop()


async def cut_short(running: RunningSandbox, caplog: pytest.LogCaptureFixture) -> None:
    incident, channel = await incident_and_channel(running)
    faults = running.sandbox.faults
    held = hold(running, "/incidents")
    try:
        sent = await as_user(running, "command", user=ASHA, channel=channel["id"], text=f"resolve {NOTE}")
        await eventually(lambda: faults.held["pagerduty"] == 1)
        with caplog.at_level(logging.WARNING, logger="commands.in_flight"):
            await running.bot.stop()
        assert faults.held["pagerduty"] == 1, "the call ended before the stop did: nothing was cut short"
    finally:
        release(running, held)
    [cut] = [r.getMessage() for r in caplog.records if r.name == "commands.in_flight"]
    assert "/incident resolve" in cut and "cut short" in cut, cut
    assert f"user {slack_user(running, ASHA)}" in cut and f"#{channel['name']}" in cut, cut
    # PagerDuty, released, resolves (its call was already sent), but nothing more is done for the command once the
    # bot has stopped: no note, no answer, no failure from a closed store or client.
    await eventually(lambda: pd_incident(running, incident["id"])["status"] == "resolved")
    await eventually(lambda: faults.held["pagerduty"] == 0)
    await asyncio.sleep(0.2)  # what would follow the call (the note, the answer) would come now
    assert pd_notes(running, incident["id"]) == [] and answers(running, sent) == ""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def post_webhook(running: RunningSandbox) -> tuple[int, dict[str, Any]]:
    """A signed PagerDuty delivery, as PagerDuty sends it."""
    body = json.dumps(incident_event("incident.triggered", incident_id="QSTOP001", number=990)).encode()
    headers = {"Content-Type": "application/json",
               "X-PagerDuty-Signature": sign(running.sandbox.keys.pagerduty_webhook_secrets[0], body)}
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/pagerduty/webhook", data=body,
                                                                headers=headers) as response:
        return response.status, await response.json()


async def refused_everything(running: RunningSandbox, incident: dict[str, Any], channel: dict[str, Any]) -> None:
    """A webhook, a command, a click and a mention, each refused the way its sender acts on, and none acted on."""
    db = running.bot.settings.db_path
    status, body = await post_webhook(running)
    assert status == 503 and "stopping" in body["error"], body  # PagerDuty delivers it again
    assert rows(db, "SELECT seq FROM inbox WHERE incident_id = 'QSTOP001'") == []
    command = await as_user(running, "command", user=ASHA, channel=channel["id"], text="ack")
    assert command["status"] == 200 and "did not take that command" in command["body"]["text"], command
    clicked = await click_acknowledge(running, channel)
    assert clicked["status"] == 503, clicked  # Slack shows the person its error: they click again
    async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/message", json={
            "user": ASHA, "channel": channel["id"], "text": "@pavedroad help"}) as response:
        events = (await response.json())["events"]
    assert events and {e["status"] for e in events} == {503}, events  # Slack sends each event again
    assert pd_incident(running, incident["id"])["status"] == "triggered"


async def test_what_arrives_while_the_bot_stops_is_refused_so_that_it_is_sent_again_and_nothing_is_stored(
        sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture) -> None:
    incident, channel = await incident_and_channel(sandbox)
    held = hold(sandbox, "/incidents")
    try:
        with caplog.at_level(logging.INFO):
            # A note under way keeps the bot in its drain while the rest arrives.
            await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text=f"note {NOTE}")
            await eventually(lambda: sandbox.sandbox.faults.held["pagerduty"] == 1)
            stopping = await begin_stop(sandbox)
            async with aiohttp.ClientSession() as session, session.get(f"{sandbox.url}/readyz") as response:
                ready = response.status, await response.json()
            assert ready[0] == 503 and "stopping" in ready[1], ready  # out of a load balancer's rotation at once
            await refused_everything(sandbox, incident, channel)
            release(sandbox, held)
            await stopping
            # Stopped, the store closed: refused the same way, not failed on a closed store.
            await refused_everything(sandbox, incident, channel)
    finally:
        if held in sandbox.sandbox.faults.rules:
            release(sandbox, held)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert pd_notes(sandbox, incident["id"]) == [NOTE]


async def test_over_socket_mode_a_command_arriving_while_the_bot_stops_is_answered_in_words(
        start_sandbox: StartSandbox) -> None:
    # Slack's requests come over the bot's WebSocket, not the HTTP door: the app's own door (commands/in_flight.py
    # DrainingApp) refuses them. (In `serve` the connection is closed before the bot's stop; here it is still open.)
    running = await start_sandbox(socket_mode=True)
    try:
        incident, channel = await incident_and_channel(running)
        held = hold(running, "/incidents")
        try:
            await as_user(running, "command", user=ASHA, channel=channel["id"], text=f"note {NOTE}")
            await eventually(lambda: running.sandbox.faults.held["pagerduty"] == 1)
            stopping = await begin_stop(running)
            refused = await as_user(running, "command", user=ASHA, channel=channel["id"], text="ack")
        finally:
            release(running, held)
        await stopping
        assert "did not take that command" in refused["body"]["text"], refused
        assert pd_incident(running, incident["id"])["status"] == "triggered"
        assert pd_notes(running, incident["id"]) == [NOTE]  # the note under way was finished
    finally:
        await running.stop()


async def test_an_app_home_being_gathered_when_the_sandbox_stops_is_published_to_its_emulator(
        start_sandbox: StartSandbox, caplog: pytest.LogCaptureFixture) -> None:
    # The emulators answer on the bot's own server: the sandbox stops the bot (whose drain finishes the Home it
    # began) while that server still listens, then the server. The other way round, the Home's views.publish found
    # the port closed ("could not reach Slack: ClientConnectorError") and a connection the bot opened as the server
    # closed could be left unclosed (ResourceWarning at a test's teardown).
    running = await start_sandbox()
    held = hold(running, "*")  # the Home asks PagerDuty who Asha is and who is on call before it publishes
    try:
        with caplog.at_level(logging.WARNING):
            async with aiohttp.ClientSession() as session, session.post(f"{running.url}/sandbox/slack/home",
                                                                        json={"user": ASHA}) as response:
                assert response.status == 200, await response.text()
            await eventually(lambda: running.sandbox.faults.held["pagerduty"] >= 1)
            stopping = asyncio.ensure_future(running.stop())
            await eventually(lambda: not running.bot.in_flight.taking)
            release(running, held)
            await stopping
    finally:
        if held in running.sandbox.faults.rules:
            release(running, held)
    assert slack_user(running, ASHA) in state(running)["slack"]["home_views"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_an_event_handed_to_bolt_as_the_stop_begins_is_drained_with_the_rest(
        start_sandbox: StartSandbox, caplog: pytest.LogCaptureFixture) -> None:
    # Over Socket Mode, Slack's requests reach Bolt with no HTTP door before it, as here (Bolt's Socket Mode adapter
    # calls async_dispatch). An event is looked up in the store before its listener starts (once per event,
    # commands/listeners.py), and a stop beginning then must count it. Bolt's middleware cannot hold a request as
    # under way (its next() returns at once, before the listener is even chosen): the stop found nothing under way,
    # ended its drain at once and closed Slack's client and the store under the listener. The listener's answer is
    # held here past a short drain, so the drain either cuts it short (it knew) or had ended before it (it did not).
    running = await start_sandbox()
    running.bot.drain_seconds = SHORT_DRAIN_SECONDS
    _, channel = await incident_and_channel(running)
    slack = running.sandbox.slack
    await as_user(running, "message", user=ASHA, channel=channel["id"], text="@pavedroad help")  # Bolt warmed up
    posted = post_as_person(slack, ASHA, channel["id"], "@pavedroad help")
    [mention] = [e for e in posted.events if e["type"] == "app_mention"]
    envelope = {"team_id": slack.team_id, "api_app_id": slack.app_id, "event": mention, "type": "event_callback",
                "event_id": "EvSTOPPING01", "event_time": 1700000000,
                "authorizations": [{"team_id": slack.team_id, "user_id": slack.bot.id, "is_bot": True}]}
    held = Fault("slack", "chat.postMessage", times=0, latency_ms=HELD_MS)
    running.sandbox.faults.add(held)
    try:
        with caplog.at_level(logging.WARNING, logger="commands.in_flight"):
            dispatched = asyncio.ensure_future(
                running.bot.slack_app.async_dispatch(AsyncBoltRequest(body=envelope, mode="socket_mode")))
            stopping = asyncio.ensure_future(running.bot.stop())  # begins in the same turn of the loop
            response = await dispatched
            await stopping
    finally:
        release(running, held)
        await running.stop()
    assert response.status == 200, response.body
    cut = [r.getMessage() for r in caplog.records if r.name == "commands.in_flight"]
    assert any("@mention" in line and "cut short" in line for line in cut), cut


async def test_over_socket_mode_a_form_being_checked_when_the_bot_stops_is_closed_before_the_connection_is(
        start_sandbox: StartSandbox) -> None:
    # Over Socket Mode a form is answered (closed, or its refusal shown) on the bot's WebSocket once its check ends,
    # up to commands/form_checks.py's budget after it was sent. Closing the connection as the stop began lost that
    # answer: Slack showed the person its error, while the bot went on to resolve — and they sent it again.
    running = await start_sandbox(socket_mode=True)
    incident, channel = await incident_and_channel(running)
    opened = await as_user(running, "command", user=ASHA, channel=channel["id"], text="resolve")
    await settle(running)
    [view] = opened["views_opened"]
    await eventually(lambda: running.bot.home.publishing == 0)
    held = hold(running, "/users")  # who Asha is in PagerDuty: the form's check
    try:
        submitting = asyncio.ensure_future(as_user(running, "view_submission", user=ASHA, view_id=view["id"],
                                                   values={"resolution": {"text": NOTE}}))
        await eventually(lambda: running.sandbox.faults.held["pagerduty"] == 1)
        stopping = asyncio.ensure_future(running.stop())
        submitted = await submitting
    finally:
        release(running, held)
    await stopping
    assert submitted["view_outcome"] == "closed", submitted
    assert pd_incident(running, incident["id"])["status"] == "resolved"
    assert pd_notes(running, incident["id"]) == [f"Resolution: {NOTE}"]
