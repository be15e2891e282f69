"""What Slack sends twice is acted on once: its retries of an event, a double click, the same command repeated.

Decided in the store (the Deduplication port), never in process memory, so every replica behind the same store
agrees on which delivery was the first. Keys carry a hash of what the person typed, not the text itself.

A command or click whose action fails (PagerDuty refusing or rate-limiting it, the person unknown to it: nothing was
done) is forgotten, so that the person's next try acts rather than being told "already on it". One whose outcome is
unknown (no answer, a 500/502/504: `OutcomeUnknown`) is not: PagerDuty may have paged, and the same click again within
the window would page twice. The window is counted from the answer: while the request is under way (a slow
PagerDuty can take 10 s to answer, or not answer) the same click again is a repeat however long it takes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.errors import OutcomeUnknown
from bot.ports import Clock, Deduplication

T = TypeVar("T")
log = logging.getLogger(__name__)

# Slack retries an event for up to about an hour (three retries, backing off).
RETRY_WINDOW_SECONDS = 3600.0
# The same person clicking or sending the same thing within a few seconds meant it once.
REPEAT_WINDOW_SECONDS = 5.0
# How long a request under way is covered, from when it came: its outside calls' timeouts (PagerDuty's 10 s, each of
# a look-up or two and the action) with room. A replica dying mid-request leaves the key this long at most.
UNDER_WAY_SECONDS = 45.0
# Not "being handled": the first may already have been answered, with "it may or may not have been done".
ALREADY_COMMANDED = ("Already on it — you sent the same command a moment ago; its answer says how it went. Send it"
                     " again in a few seconds if you still need to.")
ALREADY_CLICKED = "Already on it — your first click's answer says how it went."


class Repeats:
    def __init__(self, dedup: Deduplication, clock: Clock) -> None:
        self._dedup, self._clock = dedup, clock

    async def first_delivery(self, event_id: str) -> bool:
        """An Events API event not seen before (a retry of one whose first delivery never reached us counts)."""
        return await self._first("slack-event", RETRY_WINDOW_SECONDS, event_id)

    async def first_click(self, user: str, action_id: str, incident_id: str) -> bool:
        return await self._first("click", REPEAT_WINDOW_SECONDS, user, action_id, incident_id)

    async def first_command(self, user: str, subcommand: str, text: str, about: str) -> bool:
        """The same subcommand with the same text `about` the same incident (its id; the channel for a subcommand
        that names none). A click on a card button that acts at once is the subcommand it stands for."""
        return await self._first("command", REPEAT_WINDOW_SECONDS, user, subcommand, text, about)

    async def command_once(self, act: Callable[[], Awaitable[T]], user: str, subcommand: str, text: str,
                           about: str) -> T | None:
        """`act()`'s answer, or None for a repeat of a command (see `first_command`) still in its window. A failed
        `act` is forgotten: the person's next try is not a repeat."""
        return await self._once(act, "command", user, subcommand, text, about)

    async def click_once(self, act: Callable[[], Awaitable[T]], user: str, action_id: str,
                         incident_id: str) -> T | None:
        """As `command_once`, for a click (see `first_click`)."""
        return await self._once(act, "click", user, action_id, incident_id)

    async def submission_once(self, act: Callable[[], Awaitable[T]], user: str, form: str, text: str,
                              incident_id: str) -> T | None:
        """As `command_once`, for a form submitted (see `first_submission`)."""
        return await self._once(act, "form", user, form, text, incident_id)

    async def _once(self, act: Callable[[], Awaitable[T]], kind: str, *parts: str) -> T | None:
        key = _key(kind, *parts)
        # Under way, the request is covered for as long as it may take (a slow PagerDuty: the same click again
        # while the first hangs must not page twice); answered, its repeats are counted from the answer.
        if not await self._dedup.first_time(key, UNDER_WAY_SECONDS, self._clock.now().timestamp()):
            return None
        try:
            done = await act()
        except OutcomeUnknown:  # it may have been done: the same again at once would do it twice
            await self._window_from_answer(key)
            raise
        except BaseException:
            await self._dedup.forget(key)
            raise
        await self._window_from_answer(key)
        return done

    async def _window_from_answer(self, key: str) -> None:
        """The repeat window counted from now. A store failing here must not turn an action done into an error for
        the person: the key then keeps its UNDER_WAY_SECONDS."""
        try:
            await self._dedup.remember(key, REPEAT_WINDOW_SECONDS, self._clock.now().timestamp())
        except Exception:
            log.warning("repeat guard: the window of a request answered could not be shortened; the same request is"
                        " taken as a repeat for up to %gs", UNDER_WAY_SECONDS, exc_info=True)

    async def first_submission(self, user: str, form: str, text: str, incident_id: str) -> bool:
        return await self._first("form", REPEAT_WINDOW_SECONDS, user, form, text, incident_id)

    async def _first(self, kind: str, window_seconds: float, *parts: str) -> bool:
        return await self._dedup.first_time(_key(kind, *parts), window_seconds, self._clock.now().timestamp())


def _key(kind: str, *parts: str) -> str:
    return f"{kind}:{hashlib.sha256(chr(0x1f).join(parts).encode()).hexdigest()[:32]}"
