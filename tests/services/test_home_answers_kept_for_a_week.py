"""PagerDuty's last good answers for the App Home (bot/services/home_answers.py) are kept for a week (`KEPT_FOR`),
not for ever: they used to be kept, per person who ever opened the tab and per rota or team ever shown, for the life
of the process — an answer months old still standing in for PagerDuty, and the memory growing with every newcomer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.adapters.clock import SettableClock
from bot.services.home_answers import KEPT_FOR, SharedAnswers


async def answer(value: str) -> str:
    return value


async def test_a_last_good_answer_stands_for_a_week_then_is_dropped() -> None:
    clock = SettableClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC), frozen=True)
    answers = SharedAnswers(clock)
    assert await answers.ask("user:asha@example.com", lambda: answer("Asha")) == "Asha"
    kept = answers.last_good("user:asha@example.com")
    assert kept is not None and kept.value == "Asha" and kept.at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    clock.advance(KEPT_FOR - timedelta(minutes=1))
    assert await answers.ask("rota:basket", lambda: answer("Dev")) == "Dev"  # another question, a later minute
    assert answers.last_good("user:asha@example.com") == kept  # still within its week

    clock.advance(timedelta(minutes=1))
    assert answers.last_good("user:asha@example.com") is None  # a week old: no longer stands for PagerDuty
    assert await answers.ask("rota:basket", lambda: answer("Ben")) == "Ben"
    assert answers.last_good("user:asha@example.com") is None  # and dropped with the minute's turn, not kept
    assert [k for k in ("user:asha@example.com", "rota:basket") if answers.last_good(k)] == ["rota:basket"]


async def test_a_forgotten_question_has_no_answer_this_minute_nor_a_last_good_one() -> None:
    clock = SettableClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC), frozen=True)
    answers = SharedAnswers(clock)
    assert await answers.ask("rota:basket", lambda: answer("Dev")) == "Dev"
    assert await answers.ask("rota:basket", lambda: answer("Ben")) == "Dev"  # shared for the minute
    answers.forget(["rota:basket"])
    assert answers.last_good("rota:basket") is None
    assert await answers.ask("rota:basket", lambda: answer("Ben")) == "Ben"  # asked again: its question changed
