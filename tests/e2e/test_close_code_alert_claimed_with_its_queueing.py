"""The operators' alert of a close code the instance does not offer, or of the instance refusing the read of its close
codes or answering it with no rows, is told once a month: its month claimed and the alert queued in one store
transaction. As two writes (claim the month, then queue the alert), a store answer lost after the claim — the
connection cut, the process killed — lost that month's alert (claimed, never queued: every later resolve found it
told), and one lost after the queueing had the claim forgotten and the alert queued again by the next resolve (told
twice)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, cast

import pytest

from bot.ports import Tickets
from bot.services.close_code_choices import RETRY_SECONDS, CloseCodeChoices, CloseCodeStore
from sandbox.world import RunningSandbox
from tests.e2e.servicenow_helpers import close_code_alerts


class AnswerLost:
    """The bot's own store, the answer to the `lost`-th call made through it lost once the call is done (its
    transaction committed): raised as the connection's failure. `dies`: the process is killed there — nothing it
    would do afterwards (forget a claim, say) reaches the store."""

    def __init__(self, store: Any, lost: int, dies: bool) -> None:
        self.store, self.lost, self.dies = store, lost, dies
        self.calls, self.dead = 0, False

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        if not inspect.iscoroutinefunction(found):
            return found
        return self._through(found)

    def _through(self, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def made(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise ConnectionError("the process is gone")
            self.calls += 1
            answer = await call(*args, **kwargs)
            if self.calls == self.lost:
                self.dead = self.dies
                raise ConnectionError("the store's answer was lost")
            return answer
        return made


@pytest.mark.parametrize("lost", [1, 2], ids=["first call's answer", "second call's answer"])
@pytest.mark.parametrize("dies", [False, True], ids=["connection cut", "process killed"])
@pytest.mark.parametrize("told", ["difference", "refused read", "hidden read"])
async def test_a_lost_store_answer_neither_loses_the_months_alert_nor_tells_it_twice(
        sandbox: RunningSandbox, told: str, dies: bool, lost: int) -> None:
    servicenow, bot = sandbox.sandbox.servicenow, sandbox.bot
    servicenow.use_close_codes("utah")  # the catalogue's "Solved (Permanently)" is no choice there
    servicenow.choices_readable = told != "refused read"
    servicenow.choice_rows_readable = told != "hidden read"  # answered with no rows (an ACL hiding them)
    tickets = cast(Tickets, bot.tickets)
    cut = AnswerLost(bot.store, lost, dies)
    first = CloseCodeChoices(cast(CloseCodeStore, cut), tickets, bot.catalogue, bot.clock)
    with contextlib.suppress(ConnectionError):
        await first.codes()
    # The resolves after it: on this replica, or on the bot started again (its memory gone, the store as it was).
    later = CloseCodeChoices(bot.store, tickets, bot.catalogue, bot.clock) if dies else first
    await later.codes()
    sandbox.sandbox.clock.advance(timedelta(seconds=RETRY_SECONDS + 60))  # a failed read's (or telling's) retry
    await later.codes()
    await bot.settle(20)
    alerts = close_code_alerts(sandbox)
    assert len(alerts) == 1, alerts
    assert {"difference": "is not one of this instance's incident close codes", "hidden read": "no incident close "
            "codes", "refused read": "refuses the bot's integration user"}[told] in alerts[0], alerts
