"""Who the bot is in Slack (bot/adapters/slack/identity.py), asked of the Slack emulator until it answers: Slack's
Retry-After is waited out, a failure says why once (not at every attempt), and a refused token is asked again only
now and then, each failure after it keeping that slow pace; a refusal seen on any other call, once the bot knows who
it is, is said at once and asked again of auth.test, until Slack accepts the token again. The waits are recorded,
not slept."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.slack.chat import SlackChat
from bot.adapters.slack.identity import BACKOFF_CAP_SECONDS, REFUSED_RECHECK_SECONDS, SlackIdentity
from bot.errors import IntegrationError
from bot.metrics import Metrics
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import eventually
from tests.sandbox.slack_env import TOKEN, serve_slack


class Waits:
    """A stand-in for asyncio.sleep that records each wait and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_slacks_retry_after_is_waited_out_and_each_reason_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    async with serve_slack([], ["incidents"], SettableClock(frozen=True)) as env:
        env.faults.add(Fault("slack", "auth.test", status=429, times=3, retry_after=90))
        env.faults.add(Fault("slack", "auth.test", status=503, times=1))
        chat, waits = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0), Waits()
        identity = SlackIdentity(chat.identity, TOKEN, sleep=waits)
        try:
            with caplog.at_level(logging.WARNING, logger="bot.adapters.slack.identity"):
                learnt = await identity.learn()
        finally:
            await chat.close()
        assert learnt.user_id == env.slack.bot.id and learnt.bot_id == env.slack.bot_id
    assert identity.state() == {"token": "accepted", "bot_user_id": learnt.user_id, "bot_id": learnt.bot_id}
    assert waits.seconds[:3] == [90, 90, 90] and 0 <= waits.seconds[3] <= BACKOFF_CAP_SECONDS
    assert len(waits.seconds) == 4
    # Three 429s and a 503: two reasons, each said once.
    [rate_limited, unavailable] = [r.getMessage() for r in caplog.records]
    assert "(slack: auth.test failed: ratelimited)" in rate_limited
    assert "(slack: auth.test failed: Slack answered 503 with text/html" in unavailable


async def test_a_refused_token_is_asked_again_only_now_and_then(caplog: pytest.LogCaptureFixture) -> None:
    async with serve_slack([], ["incidents"], SettableClock(frozen=True)) as env:
        chat, waits, states = SlackChat("xoxb-revoked", env.api_url(), Metrics(), rate_scale=0), Waits(), []

        async def meanwhile(seconds: float) -> None:
            await waits(seconds)
            states.append(identity.state()["token"])
            if len(waits.seconds) == 2:  # Slack busy, after the refusal: no reason to ask sooner
                env.faults.add(Fault("slack", "auth.test", status=429, times=1, retry_after=1))
            if len(waits.seconds) == 3:  # the token is accepted again (it was Slack's own mistake)
                env.slack.bot_token = "xoxb-revoked"
        identity = SlackIdentity(chat.identity, "xoxb-revoked", sleep=meanwhile)
        try:
            with caplog.at_level(logging.INFO, logger="bot.adapters.slack.identity"):
                await identity.learn()
        finally:
            await chat.close()
    assert waits.seconds == [REFUSED_RECHECK_SECONDS] * 3 and states == ["refused"] * 3
    # Refused twice (said once), busy once, then accepted.
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("ERROR", "Slack refuses SLACK_BOT_TOKEN (auth.test"), ("WARNING", "could not ask Slack who the bot is (slack"),
        ("INFO", "Slack now accepts SLACK_BOT_TOKEN")]


async def test_slack_failing_for_hours_still_leaves_the_bot_learning_who_it_is(
        caplog: pytest.LogCaptureFixture) -> None:
    # Slack out of reach for hours (egress blocked, an outage): each failure is followed by a backoff capped at a
    # minute, so some 1,100 attempts are about nine hours. The backoff's doubling must stop growing with the attempts:
    # from the 1,024th it no longer fits a float, the learner died of it, and Bot.stop raised it.
    failures = 1_100
    async with serve_slack([], ["incidents"], SettableClock(frozen=True)) as env:
        env.faults.add(Fault("slack", "auth.test", status=503, times=failures))
        chat, waits = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0), Waits()
        identity = SlackIdentity(chat.identity, TOKEN, sleep=waits)
        try:
            with caplog.at_level(logging.WARNING, logger="bot.adapters.slack.identity"):
                learnt = await identity.learn()
        finally:
            await chat.close()
        assert learnt.user_id == env.slack.bot.id
    assert len(waits.seconds) == failures and all(0 <= wait <= BACKOFF_CAP_SECONDS for wait in waits.seconds)
    assert len(caplog.records) == 1  # one reason, said once


async def test_a_token_refused_after_it_was_accepted_is_said_at_once_and_accepted_again_once_auth_test_answers(
        caplog: pytest.LogCaptureFixture) -> None:
    # Slack answers token_revoked to a message after the bot learnt who it is (the token revoked, or one of Slack's
    # own mistakes): until now /readyz went on saying "accepted" and nothing was logged as an error.
    async with serve_slack([], ["incidents"], SettableClock(frozen=True)) as env:
        metrics = Metrics()
        chat, waits, accepted = SlackChat(TOKEN, env.api_url(), metrics, rate_scale=0), Waits(), []
        identity = SlackIdentity(chat.identity, TOKEN, sleep=waits, metrics=metrics)
        chat.on_refused, identity.on_accepted = identity.refused_by, lambda: accepted.append(identity.state())
        watching = asyncio.create_task(identity.watch())
        try:
            await eventually(lambda: identity.known is not None)
            env.faults.add(Fault("slack", "chat.postMessage", status=200, error="token_revoked"))
            env.faults.add(Fault("slack", "auth.test", status=200, error="token_revoked"))
            with caplog.at_level(logging.INFO, logger="bot.adapters.slack.identity"):
                with pytest.raises(IntegrationError) as raised:
                    await chat.post_message(env.channel_id("incidents"), "hello")
                refused = identity.state()
                gauge = metrics.registry.get_sample_value("pavedroad_slack_token_refused")
                await eventually(lambda: bool(accepted))
        finally:
            watching.cancel()
            await chat.close()
    assert raised.value.credentials_refused and not raised.value.retryable
    assert refused["token"] == "refused" and refused["error"] == "token_revoked"
    assert refused["seen_on"] == "chat.postMessage" and "reinstall the app" in str(refused["fix"])
    assert gauge == 1 and metrics.registry.get_sample_value("pavedroad_slack_token_refused") == 0
    # auth.test asked at once (refused too), then again after the slow pace, when Slack accepted it.
    assert waits.seconds == [REFUSED_RECHECK_SECONDS]
    assert accepted == [identity.state()] and identity.state()["token"] == "accepted"
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("ERROR", "Slack refuses SLACK_BOT_TOKEN (chat.postMessage"), ("INFO", "Slack now accepts SLACK_BOT_TOKEN")]
    assert "SLACK_BOT_TOKEN and restart the bot" in caplog.records[0].getMessage()
