"""The one place figures are worded (bot/render/format.py): each caller's reading of a duration, exposure windows,
money, percentages, local times, and Slack-safe text. Table-driven; the expected texts are what Slack and the CLI
showed before the formatters were brought together."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.render.format import clip, duration, escape, local_time, minutes, money, percent

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize(("seconds", "card", "handover", "table"), [
    (None, "—", "—", "—"),
    (-5, "0s", "0s", "0m 00s"),
    (0, "0s", "0s", "0m 00s"),
    (44.6, "44s", "44s", "0m 45s"),  # the card's clock shows whole seconds passed; the table rounds
    (59.5, "59s", "59s", "1m 00s"),
    (250, "4m 10s", "4m", "4m 10s"),
    (HOUR - 1, "59m 59s", "59m", "59m 59s"),
    (2 * HOUR + 5 * 60 + 30, "2h 05m", "2h 05m", "2h 05m"),
    (DAY - 1, "23h 59m", "23h 59m", "23h 59m"),
    (3 * DAY + 4 * HOUR + 59 * 60, "3d 4h", "3d 4h", "76h 59m"),  # the table keeps counting hours
])
def test_each_caller_reads_a_duration_its_way(seconds: float | None, card: str, handover: str, table: str) -> None:
    assert duration(seconds) == card
    assert duration(seconds, minute_seconds=False) == handover
    assert duration(seconds, days=False, zero_minutes=True, rounded=True) == table


@pytest.mark.parametrize(("value", "text"), [
    (45, "45 min"), (22.5, "22.5 min"), (60, "1 h"), (90, "1 h 30 min"), (240, "4 h"), (1500, "25 h"),
    (90.5, "1 h 30.5 min"),
])
def test_exposure_windows_are_spoken_in_minutes_and_hours(value: float, text: str) -> None:
    assert minutes(value) == text


@pytest.mark.parametrize(("amount", "text"), [
    (750, "£750"), (999.4, "£999"), (1_000, "£1K"), (1_250, "£1.2K"), (9_960, "£10K"), (210_000, "£210K"),
    (999_499, "£999K"), (999_500, "£1M"), (1_200_000, "£1.2M"), (12_500_000, "£12M"),
])
def test_money_is_short_as_people_say_it(amount: float, text: str) -> None:
    assert money(amount, "£") == text


@pytest.mark.parametrize(("value", "places", "text"), [
    (99.0, 3, "99.0%"), (99.5, 3, "99.5%"), (99.95, 3, "99.95%"), (99.9999, 3, "100.0%"), (None, 3, "—"),
    (-170.0, 0, "-170%"), (42.5, 0, "43%"), (43.5, 0, "44%"), (-0.3, 0, "0%"), (None, 0, "—"),
])
def test_percentages(value: float | None, places: int, text: str) -> None:
    assert percent(value, places=places) == text


def test_local_time_is_the_rotas_wall_clock() -> None:
    moment = datetime(2026, 6, 4, 8, 0, tzinfo=UTC)
    assert local_time(moment, ZoneInfo("Europe/London")) == "Thu 04 Jun 09:00"  # BST
    assert local_time(moment, ZoneInfo("UTC")) == "Thu 04 Jun 08:00"


def test_escape_neutralises_slacks_control_characters() -> None:
    assert escape("<!channel> & <@U1> <http://x|y>") == "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;"
    assert escape("&amp;") == "&amp;amp;"  # escaped text shows as written, once


@pytest.mark.parametrize(("text", "limit", "clipped"), [
    ("short", 10, "short"), ("exactly10!", 10, "exactly10!"), ("eleven char", 10, "eleven ch…"),
])
def test_clip_marks_what_was_cut(text: str, limit: int, clipped: str) -> None:
    assert clip(text, limit) == clipped
    assert len(clip(text, limit)) <= limit
