"""The part of a form's check that outlasts Slack's deadline is no loose task: it runs in the listener after the
ack, so that the bot stopping cancels it with the listener, and its failure reaches the person (with what they
typed) rather than a log line nobody reads. The check here stands for PagerDuty not answering: it waits until told."""

from __future__ import annotations

import asyncio

import pytest
from slack_bolt.context.ack.async_ack import AsyncAck

from commands.answers import Reply
from commands.form_checks import UNDER_WAY, Errors, check_then_act
from tests.e2e.sandbox_helpers import code_blocks_shown, eventually

TYPED = "Rolled back <v4.2.1> & drained the queue"
# What an engineer pastes into a note: a command in its own ``` fence, and markup characters a shell line is full of.
FENCED = "Ran:\n```\nkubectl rollout undo deploy/basket && echo *done* ``\n```\nthen watched the 5xx_rate"


class Held:
    """A check held until released (or cancelled): what became of it."""

    def __init__(self, fails: bool = False, refuses: str = "") -> None:
        self.started, self.release, self.fails = asyncio.Event(), asyncio.Event(), fails
        self.refuses = refuses  # a refusal found once released (shown under the note's input), if any
        self.cancelled = False

    async def check(self) -> Errors:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.fails:
            raise RuntimeError("the store went away")
        return {"resolution": self.refuses} if self.refuses else {}


async def acked(ack: AsyncAck) -> None:
    """Wait for the ack as Bolt does before answering Slack: it looks every 10 ms."""
    await eventually(lambda: ack.response is not None)


@pytest.mark.parametrize("stopped", ["within the budget", "after the ack"])
async def test_a_check_is_cancelled_with_the_listener_not_left_behind(stopped: str) -> None:
    held, ack, told = Held(), AsyncAck(), list[str]()  # type: ignore[no-untyped-call]

    async def act() -> Reply:
        raise AssertionError("a check that never finished must not act")

    async def say(text: str) -> None:
        told.append(text)

    listener = asyncio.create_task(check_then_act(ack, held.check(), act, say, TYPED))
    await held.started.wait()
    if stopped == "after the ack":
        await acked(ack)
        assert ack.response is not None and ack.response.body == ""  # the form closed, nothing shown in it
    listener.cancel()  # the bot stopping
    await asyncio.gather(listener, return_exceptions=True)
    # Nothing told but, once the form had closed, that it was under way (commands/form_checks.py UNDER_WAY).
    assert held.cancelled and told == ([] if stopped == "within the budget" else [UNDER_WAY])
    assert (ack.response is None) == (stopped == "within the budget")


async def test_a_late_check_that_fails_is_told_with_what_was_typed() -> None:
    held, ack, told = Held(fails=True), AsyncAck(), list[str]()  # type: ignore[no-untyped-call]

    async def act() -> Reply:
        raise AssertionError("a check that failed must not act")

    async def say(text: str) -> None:
        told.append(text)

    listener = asyncio.create_task(check_then_act(ack, held.check(), act, say, TYPED))
    await acked(ack)
    held.release.set()
    await listener
    under_way, text = told
    assert under_way == UNDER_WAY
    assert text.startswith("Something went wrong on our side — reference")
    assert "Rolled back &lt;v4.2.1&gt; &amp; drained the queue" in text


async def test_a_late_refusal_quotes_a_typed_code_fence_whole_in_one_block() -> None:
    # Slack ends a code block at the first ``` in it: the quote of a note with a fence in it fell apart, the command
    # shown outside any block and its * and _ taken as bold and italics, so what the person copied was not what they
    # had written.
    held, told = Held(refuses="Only the incident's responders may resolve it."), list[str]()
    ack = AsyncAck()  # type: ignore[no-untyped-call]

    async def act() -> Reply:
        raise AssertionError("a refused form must not act")

    async def say(text: str) -> None:
        told.append(text)

    listener = asyncio.create_task(check_then_act(ack, held.check(), act, say, FENCED))
    await acked(ack)
    held.release.set()
    await listener
    under_way, text = told
    assert under_way == UNDER_WAY
    assert text.startswith("⚠️ Only the incident's responders may resolve it.")
    assert code_blocks_shown(text) == [FENCED], text
