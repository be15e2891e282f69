"""PagerDuty's answers for the App Home (who a person is, who is on call for a rota or a team), shared by every Home
built in the same minute of the bot's clock — "on call now" is at a minute's resolution — and the last good answer
to each question, kept for when PagerDuty cannot answer.

A burst of Homes (a storm's refreshes, someone opening the tab again and again) asks PagerDuty once a minute per
question, not once a Home: a failure too is shared until its minute is over, by refreshes and openings alike, so that
a rate-limited PagerDuty is not asked again by every opening. While PagerDuty cannot answer, the Home shows the last
good answer with when it was looked up (bot/services/home.py), not a worse Home over a good one. Kept in memory, per
replica: after a restart there is no last answer until PagerDuty gives one. A last good answer is kept for a week
(`KEPT_FOR`; one from an earlier day says which day it is from): an older one says little of who is on call now, and
the people who opened the tab once are not kept for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from bot.ports import Clock

T = TypeVar("T")
KEPT_FOR = timedelta(days=7)  # how long a last good answer stands in for PagerDuty not answering


@dataclass(frozen=True)
class LastGood(Generic[T]):
    """PagerDuty's last good answer to a question, and when it was asked."""

    value: T
    at: datetime


def _never(_: object) -> bool:
    return False


class SharedAnswers:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._minute: datetime | None = None
        self._answers: dict[str, asyncio.Future[Any]] = {}  # this minute's, failures included
        # Per question (the catalogue's rotas and teams, the people who opened the tab), each for `KEPT_FOR`.
        self._good: dict[str, LastGood[Any]] = {}
        # Per question forgotten (a reload's), how many times: an answer on its way then was asked of what it no
        # longer is (a rota's old schedules), and is not kept as good when it lands (found in review).
        self._forgotten: dict[str, int] = {}

    def ask(self, key: str, ask: Callable[[], Awaitable[T]], *,
            failed: Callable[[T], bool] = _never) -> Awaitable[T]:
        """The answer to `ask`, shared by every caller this minute whatever it is (an error is raised to each);
        `failed`: an answer that says PagerDuty did not answer (an on-call line without names), not kept as good."""
        minute = self._clock.now().replace(second=0, microsecond=0)
        if minute != self._minute:
            self._minute, self._answers = minute, {}
            self._good = {k: g for k, g in self._good.items() if g.at > minute - KEPT_FOR}  # once a minute
        if key not in self._answers:
            asked_at, asked_of = self._clock.now(), self._forgotten.get(key, 0)
            answer = asyncio.ensure_future(ask())

            def keep(done: asyncio.Future[Any]) -> None:
                if not done.cancelled() and done.exception() is None and not failed(done.result()) \
                        and self._forgotten.get(key, 0) == asked_of:
                    self._good[key] = LastGood(done.result(), asked_at)
            answer.add_done_callback(keep)
            self._answers[key] = answer
        return cast(Awaitable[T], self._answers[key])

    def last_good(self, key: str) -> LastGood[Any] | None:
        good = self._good.get(key)
        return good if good is not None and good.at > self._clock.now() - KEPT_FOR else None

    def forget(self, keys: Iterable[str]) -> None:
        """Neither this minute's answers nor the last good ones to these questions (their question changed: a
        reloaded catalogue gave a rota other schedules)."""
        for key in keys:
            self._forgotten[key] = self._forgotten.get(key, 0) + 1
            self._answers.pop(key, None)
            self._good.pop(key, None)

    def asked_again_at(self) -> datetime:
        """When a question that failed this minute is asked again: the next minute."""
        return self._clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
