"""The bot's logging setup keeps slack_sdk from building DEBUG lines it then drops: the SDK decides whether to format
a request's and an answer's whole body from its client logger's *own* level, so `configure_logging` gives those
loggers one (INFO or above, whatever LOG_LEVEL says). Seen from outside: a Slack call made through the adapter,
against the Slack emulator, no longer reaches `Logger.debug` at all."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import pytest

from bot.adapters.clock import SettableClock
from bot.adapters.slack.chat import SlackChat
from bot.app.cli.main import SDK_SELF_LEVEL_LOGGERS, configure_logging
from bot.catalogue import SandboxPerson
from bot.metrics import Metrics
from tests.sandbox.slack_env import TOKEN, serve_slack

PEOPLE = [SandboxPerson(name="Asha Patel", email="asha.patel@example.com")]
START = datetime.fromtimestamp(1_700_000_000, UTC)


async def debug_calls_during_a_card_post() -> int:
    """How many times `Logger.debug` is called while the adapter posts a card (blocks, metadata) to the emulator."""
    calls = 0

    def count(frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal calls
        if event == "call" and frame.f_code is logging.Logger.debug.__code__:
            calls += 1

    async with serve_slack(PEOPLE, ["incidents"], SettableClock(START, frozen=True)) as env:
        chat = SlackChat(TOKEN, env.api_url(), Metrics(), rate_scale=0)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Status*\n🔴 Triggered"}}]
        await chat.post_message("incidents", "warm-up", blocks)  # the session and connection made beforehand
        sys.setprofile(count)
        try:
            await chat.post_message("incidents", "#1 Checkout is down", blocks,
                                    metadata={"event_type": "pavedroad_posted", "event_payload": {"marker": "card:1"}})
        finally:
            sys.setprofile(None)
        await chat.close()
    return calls


@pytest.mark.parametrize("level", ["INFO", "DEBUG", "WARNING"])
async def test_a_slack_call_formats_no_debug_line_once_logging_is_configured(logging_restored: None,
                                                                             level: str) -> None:
    configure_logging(level)
    assert await debug_calls_during_a_card_post() == 0
    for name in SDK_SELF_LEVEL_LOGGERS:  # even at DEBUG: slack_sdk's bodies stay out of the log
        assert logging.getLogger(name).level >= logging.INFO


async def test_left_unset_the_sdk_formats_its_debug_lines(logging_restored: None) -> None:
    """What the setting is for: the SDK's client logger left at NOTSET (inheriting INFO, so nothing is logged)
    still has every call format its request and answer for `Logger.debug`."""
    logging.getLogger("slack_sdk").setLevel(logging.INFO)
    logging.getLogger(SDK_SELF_LEVEL_LOGGERS[0]).setLevel(logging.NOTSET)
    assert await debug_calls_during_a_card_post() >= 2  # the request's line and the answer's
