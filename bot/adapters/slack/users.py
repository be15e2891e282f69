"""Slack's `users.info` answers, kept for a while: who a Slack user is (their email, their name) changes rarely, and
the bot asks often — every App Home published asks for the person's email, every role and follow-up for a name.

A found user is kept `TTL_SECONDS` (a changed email or name shows within that long) and at most `MOST_USERS` of them
(the least recently asked go first). Callers asking for the same user while Slack is being asked share that one
call. Failures are not kept: the next caller asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

TTL_SECONDS = 300.0
MOST_USERS = 10_000


class KnownUsers:
    def __init__(self, ask: Callable[[str], Awaitable[dict[str, Any]]], *,
                 clock: Callable[[], float] = time.monotonic, ttl: float = TTL_SECONDS,
                 most: int = MOST_USERS) -> None:
        self._ask, self._clock, self._ttl, self._most = ask, clock, ttl, most
        self._known: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()  # user id → (until, user)
        self._asking: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def user(self, user_id: str) -> dict[str, Any]:
        """users.info's `user` object for this user id; raises what asking Slack raised."""
        known = self._known.get(user_id)
        if known is not None and known[0] > self._clock():
            self._known.move_to_end(user_id)
            return known[1]
        asking = self._asking.get(user_id)
        if asking is None:
            asking = self._asking[user_id] = asyncio.ensure_future(self._ask_once(user_id))
            asking.add_done_callback(_seen)
        # Shielded: one caller giving up does not cancel the answer the others wait for.
        return await asyncio.shield(asking)

    async def _ask_once(self, user_id: str) -> dict[str, Any]:
        try:
            user = await self._ask(user_id)
        finally:
            del self._asking[user_id]
        self._known[user_id] = (self._clock() + self._ttl, user)
        self._known.move_to_end(user_id)
        while len(self._known) > self._most:
            self._known.popitem(last=False)
        return user


def _seen(answer: asyncio.Future[Any]) -> None:
    """A failure every caller gave up waiting for is still retrieved (asyncio would log it as never retrieved)."""
    if not answer.cancelled():
        answer.exception()
