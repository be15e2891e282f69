"""The operators' alerts told once a window — Slack refusing the bot channels (once a day per refusal), a ticket in no
team's queue (once a day per service), a merged incident's ticket refused as a duplicate (once a day per ticket) — are
claimed and queued in one store transaction. As two writes, a store answer lost between them (the connection cut, the
process killed) lost the window's alert (claimed first: the retry found it told) or told it twice (queued first, then
remembered: the retry found it untold and queued it again). Each is told here, one store answer lost, then told again
as the retry would (the bot's effect retried, or the next resolve): the operators' channel has it exactly once."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from bot.domain.incident import Incident
from bot.errors import IntegrationError
from bot.ports import ChannelInfo, Chat, Tickets
from bot.ports.store import TicketRow
from bot.services.archived_channels import ArchivedChannels, ArchivedChannelStore
from bot.services.ticket_closing import Closing, ClosingStore
from bot.services.ticket_groups import NoGroupStore, tell_no_group
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import messages, state, trigger


class AnswerLost:
    """The bot's own store, the answer to the `lost`-th call made through it lost once the call is done (its
    transaction committed), raised as the connection's failure: only while `armed` (the first telling)."""

    def __init__(self, store: Any, lost: int) -> None:
        self.store, self.lost, self.calls, self.armed = store, lost, 0, True

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        return self._through(found) if inspect.iscoroutinefunction(found) else found

    def _through(self, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def made(*args: Any, **kwargs: Any) -> Any:
            answer = await call(*args, **kwargs)
            if self.armed:
                self.calls += 1
                if self.calls == self.lost:
                    raise ConnectionError("the store's answer was lost")
            return answer
        return made


async def never_opened(incident: Incident, since: float) -> None:
    raise AssertionError("no channel is opened anew here")


def telling(site: str, running: RunningSandbox, incident: Incident) -> Callable[[Any], Awaitable[object]]:
    """How `site` tells the operators, through a given store; and (by the text) its alert."""
    bot = running.bot

    async def refused() -> ChannelInfo:
        raise IntegrationError("slack", "restricted_action", retryable=False, code="restricted_action")

    if site == "channels refused":
        return lambda store: ArchivedChannels(cast(ArchivedChannelStore, store), cast(Chat, bot.chat), bot.catalogue,
                                              bot.clock, never_opened).unless_refused(incident, refused())
    if site == "no group":
        return lambda store: tell_no_group(cast(NoGroupStore, store), bot.clock, bot.catalogue, incident, "INC0099001")
    ticket = TicketRow(incident.id, "sys-dup-1", "INC0099002", "https://servicenow.example/INC0099002")
    error = IntegrationError("servicenow", "Data policy refuses close code 'Duplicate'", retryable=False,
                             status=403)
    return lambda store: Closing(cast(ClosingStore, store), cast(Tickets, bot.tickets), bot.catalogue,
                                 bot.clock).tell_refused(incident, ticket, {"close_code": "Duplicate"}, error)


TEXTS = {"channels refused": "Slack refuses to let the bot create incident channels",
         "no group": "has no assignment group",
         "duplicate refused": "ServiceNow refused to resolve ticket INC0099002"}


@pytest.mark.parametrize("lost", [1, 2, 3], ids=["first call's answer", "second call's answer", "third call's answer"])
@pytest.mark.parametrize("site", list(TEXTS))
async def test_a_lost_store_answer_neither_loses_the_operators_alert_nor_tells_it_twice(
        sandbox: RunningSandbox, site: str, lost: int) -> None:
    bot = sandbox.bot
    incident = await bot.store.incident(str((await trigger(sandbox))["id"]))
    assert incident is not None
    tell = telling(site, sandbox, incident)
    cut = AnswerLost(bot.store, lost)
    with contextlib.suppress(ConnectionError):
        await tell(cut)
    cut.armed = False
    await tell(cut)  # the retry: the effect's next attempt, the next resolve
    await bot.settle(20)
    ops = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "paved-road-ops")
    alerts = [m["text"] for m in messages(sandbox, ops["id"]) if TEXTS[site] in m["text"]]
    assert len(alerts) == 1, alerts
