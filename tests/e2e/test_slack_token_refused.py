"""Slack stops accepting the bot's token while it runs: the app uninstalled, its token revoked (Slack's
`tokens_revoked` and `app_uninstalled` events, Web API answers `token_revoked`, `account_inactive`, … with HTTP 200).
The operators learn it at once and are told what to do (an ERROR log line, /readyz's `slack`, a gauge), PagerDuty's
webhooks are still taken, Slack's effects wait for a token that works instead of dying, and a person whose command
fails on it is told to have the app reinstalled, not that something went wrong."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from bot.domain.effects.kinds import EFFECT_TYPES
from sandbox.faults import Fault
from sandbox.slack.person import deliver_event
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    answers,
    as_user,
    channel_id,
    eventually,
    incident_channels,
    messages,
    trigger,
)
from tests.helpers import FAST_RETRIES, StartSandbox, rows

ASHA = "asha.patel@example.com"


async def call(running: RunningSandbox, verb: str, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(verb, running.url + path) as response:
        return response.status, await (response.json() if response.content_type == "application/json"
                                       else response.text())


async def started(start_sandbox: StartSandbox) -> RunningSandbox:
    running = await start_sandbox()
    await eventually(lambda: running.bot.identity.known is not None)
    return running


async def readiness(bot: Bot) -> dict[str, Any]:
    return dict(await bot.readiness())


def outbox(running: RunningSandbox, incident_id: str) -> list[dict[str, Any]]:
    return rows(running.bot.settings.db_path, "SELECT kind, state, attempts FROM outbox WHERE incident_id=?",
                (incident_id,))


async def test_a_token_revoked_while_the_bot_runs_is_said_at_once_and_slacks_effects_wait_for_a_new_one(
        start_sandbox: StartSandbox, catalogue: Catalogue, caplog: pytest.LogCaptureFixture) -> None:
    running = await started(start_sandbox)
    with caplog.at_level(logging.ERROR, logger="bot"):
        status, revoked = await call(running, "POST", "/sandbox/slack/revoke")
        assert (status, revoked) == (200, {"events": [{"type": "tokens_revoked", "status": 200}]})
        # Said as the event came; auth.test, asked again at once, is refused too.
        await eventually(lambda: running.sandbox.slack.calls["auth.test"] == 2)
        [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        status, ready = await call(running, "GET", "/readyz")
        metrics = (await call(running, "GET", "/metrics"))[1]
        # PagerDuty's webhook is still taken, and its incident recorded; Slack's effects wait, none tried or spent.
        incident = await running.sandbox.pagerduty.trigger(title="Basket is empty", service_id="PBASKET")
        await running.sandbox.pagerduty.drain_webhooks()
        await eventually(lambda: bool(outbox(running, incident["id"])))
        waiting = outbox(running, incident["id"])
    assert "Slack refuses SLACK_BOT_TOKEN (tokens_revoked event: tokens_revoked)" in error
    assert "reinstall the app" in error and "SLACK_BOT_TOKEN and restart the bot" in error
    # Still ready: intake needs no Slack, and an unready bot would stop taking PagerDuty's webhooks.
    assert status == 200 and ready["ready"] is True
    assert ready["slack"]["token"] == "refused" and ready["slack"]["seen_on"] == "tokens_revoked event"
    assert "reinstall the app" in ready["slack"]["fix"] and "SLACK_BOT_TOKEN" in ready["slack"]["fix"]
    assert "pavedroad_slack_token_refused 1.0" in metrics
    assert "open_incident_channel" in {row["kind"] for row in waiting}
    # Slack's effects only: the ticket's (ServiceNow's lane, not paused) may be under way as this is read.
    slacks = [row for row in waiting if EFFECT_TYPES[row["kind"]].system == "slack"]
    assert {(row["state"], row["attempts"]) for row in slacks} == {("pending", 0)}, waiting
    assert running.sandbox.slack.calls["conversations.create"] == 0 and incident_channels(running) == []

    # An admin reinstalls the app; the bot is restarted with its new token and does what waited.
    _, installed = await call(running, "POST", "/sandbox/slack/install")
    await running.bot.stop()
    again = Bot(replace(running.bot.settings, slack_bot_token=installed["bot_token"]), catalogue,
                retry_policy=FAST_RETRIES, clock=running.sandbox.clock)
    await again.start()
    try:
        await again.settle(20)
        ready_again = await readiness(again)
    finally:
        await again.stop()
    assert ready_again["slack"]["token"] == "accepted" and ready_again["outbox_dead"] == 0
    [channel] = incident_channels(running)
    assert incident["title"].lower().split()[0] in channel["name"]
    assert {row["state"] for row in outbox(running, incident["id"])} == {"done"}
    # The sandbox's own teardown would stop the first bot again: its server is closed alone.
    await running.sandbox.close()
    for site in list(running.runner.sites):
        await site.stop()


async def test_an_effect_refused_for_the_token_is_not_parked_dead_and_goes_on_once_slack_accepts_it(
        start_sandbox: StartSandbox, caplog: pytest.LogCaptureFixture) -> None:
    # Slack refuses the token once, on the channel's creation (one of its own mistakes, or a token refused then
    # mended): the effect is not the one failing, so it must not be parked dead.
    running = await started(start_sandbox)
    running.sandbox.faults.add(Fault("slack", "conversations.create", status=200, error="token_revoked"))
    with caplog.at_level(logging.INFO, logger="bot"):
        incident = await trigger(running)
    assert [row["state"] for row in outbox(running, incident["id"]) if row["kind"] == "open_incident_channel"] == [
        "done"]
    assert len(incident_channels(running)) == 1
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bot.adapters.slack.identity"]
    assert [level for level, _ in said] == ["ERROR", "INFO"], said
    assert "(conversations.create: token_revoked)" in said[0][1] and "now accepts" in said[1][1]
    assert (await readiness(running.bot))["slack"]["token"] == "accepted"


async def test_a_token_refused_on_an_effects_last_attempt_spends_no_attempt_and_parks_nothing_dead(
        start_sandbox: StartSandbox) -> None:
    # Slack fails the channel's creation (500) on every attempt but the last the retry policy allows, and refuses the
    # token on that one: a refusal of the token is no attempt, so the last attempt is still to come once Slack
    # accepts the token again (auth.test, asked at once, accepts it) — and it opens the channel. Nobody is alerted.
    running = await started(start_sandbox)
    failures = FAST_RETRIES.max_attempts - 1
    running.sandbox.faults.add(Fault("slack", "conversations.create", status=500, times=failures))
    running.sandbox.faults.add(Fault("slack", "conversations.create", status=200, error="token_revoked"))
    incident = await trigger(running)
    assert [(row["state"], row["attempts"]) for row in outbox(running, incident["id"])
            if row["kind"] == "open_incident_channel"] == [("done", failures + 2)]
    assert len(incident_channels(running)) == 1
    assert running.sandbox.slack.calls["conversations.create"] == failures + 2
    ready = await readiness(running.bot)
    assert ready["outbox_dead"] == 0 and ready["slack"]["token"] == "accepted"
    assert not [m for m in messages(running, channel_id(running, "paved-road-ops")) if "🚨" in m["text"]]


async def test_a_command_failing_on_the_refused_token_says_to_reinstall_the_app(start_sandbox: StartSandbox) -> None:
    running = await started(start_sandbox)
    await trigger(running)
    [channel] = incident_channels(running)
    await call(running, "POST", "/sandbox/slack/revoke")
    # The app is still installed: its command reaches the bot, whose answer (through the response URL, which takes
    # no token) says what happened and what to do.
    said: list[str] = []
    for text in ("ack", "report"):  # a service's words (the ack's), and an outside failure no service put in words
        asked = await as_user(running, "command", user=ASHA, channel=channel["id"], text=text)
        await eventually(lambda: bool(answers(running, asked)))  # noqa: B023 (awaited in this turn)
        said.append(answers(running, asked))
    for answer in said:
        assert "Slack no longer accepts the bot's token" in answer, answer
        assert "reinstall the Paved Road app" in answer and "SLACK_BOT_TOKEN" in answer
        assert "refused it (" not in answer and "refused a call" not in answer


async def test_an_uninstalled_app_is_said_the_same_way(start_sandbox: StartSandbox,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    running = await started(start_sandbox)
    with caplog.at_level(logging.ERROR, logger="bot"):
        status, body = await call(running, "POST", "/sandbox/slack/uninstall")
        await eventually(lambda: running.sandbox.slack.calls["auth.test"] == 2)  # asked again, refused
    assert status == 200 and body["events"] == [{"type": "tokens_revoked", "status": 200},
                                                {"type": "app_uninstalled", "status": 200}]
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]  # once, for both events
    assert "Slack refuses SLACK_BOT_TOKEN (tokens_revoked event" in error
    # The uninstall is what Slack said happened: kept over auth.test's account_inactive, whichever came last.
    slack = (await readiness(running.bot))["slack"]
    assert slack["token"] == "refused" and slack["error"] == "app_uninstalled"
    assert slack["seen_on"] == "app_uninstalled event"
    assert "a workspace admin reinstalls it" in slack["fix"] and "SLACK_BOT_TOKEN" in slack["fix"]


async def test_tokens_revoked_for_someone_else_leaves_the_token_accepted(start_sandbox: StartSandbox) -> None:
    # Slack names the users whose tokens it revoked: a user token (`oauth`), which this app does not hold, is not the
    # bot's.
    running = await started(start_sandbox)
    slack = running.sandbox.slack
    delivered = await deliver_event(slack, {"type": "tokens_revoked", "tokens": {"oauth": ["U0SOMEONE"]}})
    assert delivered == {"type": "tokens_revoked", "status": 200}
    await slack.settled()
    assert (await readiness(running.bot))["slack"]["token"] == "accepted"
    assert running.bot.identity.refused is None
