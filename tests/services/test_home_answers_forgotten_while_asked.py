"""A catalogue reload forgets PagerDuty's answers about a rota whose schedules it changed (`SharedAnswers.forget`,
bot/services/home_answers.py). An answer still on its way when the reload came was asked of the old schedules: landing
after the forget, it must not become the rota's last good answer — the Home would show, while PagerDuty does not
answer, who was on call on a schedule the rota no longer has, as "last looked up" (found in review)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.adapters.clock import SettableClock
from bot.services.home_answers import SharedAnswers


async def test_an_answer_asked_before_its_question_was_forgotten_is_not_kept_as_good() -> None:
    clock = SettableClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC), frozen=True)
    answers = SharedAnswers(clock)
    old_schedule: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def ask_old() -> str:
        return await old_schedule

    asked = answers.ask("rota:basket", ask_old)
    answers.forget(["rota:basket"])  # the reload: the rota's schedules changed while PagerDuty was asked
    old_schedule.set_result("Dev (the old schedule)")
    assert await asked == "Dev (the old schedule)"  # (its callers, from before the reload, get it)
    assert answers.last_good("rota:basket") is None


async def test_an_answer_that_lands_after_its_minute_is_still_kept_as_good() -> None:
    clock = SettableClock(datetime(2026, 11, 27, 9, 0, 59, tzinfo=UTC), frozen=True)
    answers = SharedAnswers(clock)
    slow: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def ask_slow() -> str:
        return await slow

    asked = answers.ask("rota:basket", ask_slow)
    clock.set(datetime(2026, 11, 27, 9, 1, 1, tzinfo=UTC))

    async def ask_again() -> str:
        return "Ben"

    assert await answers.ask("user:asha@example.com", ask_again) == "Ben"  # a new minute's question
    slow.set_result("Dev")
    assert await asked == "Dev"
    kept = answers.last_good("rota:basket")
    assert kept is not None and kept.value == "Dev"
