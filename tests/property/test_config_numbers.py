"""Property: whatever text the numeric variables hold (PORT, SLACK_RATE_LIMIT_SCALE, PAVEDROAD_LEASE_SECONDS),
start-up either reads a value within the variable's range or refuses it with one problem that names the variable
and the value; and the bot and the container's health check agree on which PORT values are ports."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.config import LONGEST_LEASE_SECONDS, Settings, load_settings
from bot.app.healthcheck import check
from bot.errors import ConfigError

GOOD_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_API_TOKEN": "t",
            "PAGERDUTY_WEBHOOK_SECRETS": "secret"}

# Any text, numbers of every size and sign written as Python and operators write them, and float()'s specials.
NUMBER_TEXTS = st.one_of(
    st.text(min_size=1), st.integers().map(str), st.floats().map(str), st.floats().map(repr),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "0", "-0", "0.0", "1_000", " 60 ",
                     "٣٠٠٠", "²"]))
RANGES = {"SLACK_RATE_LIMIT_SCALE": (0.0, math.inf), "PAVEDROAD_LEASE_SECONDS": (1.0, float(LONGEST_LEASE_SECONDS))}


def _load(name: str, text: str) -> Settings | str:
    """The settings, or the one problem start-up found."""
    try:
        return load_settings({**GOOD_ENV, name: text})
    except ConfigError as error:
        [problem] = error.problems
        return problem


@pytest.mark.parametrize("name", sorted(RANGES))
@given(text=NUMBER_TEXTS)
def test_a_number_is_read_within_its_range_or_refused_by_name(name: str, text: str) -> None:
    loaded = _load(name, text)
    low, high = RANGES[name]
    if isinstance(loaded, Settings):
        value = loaded.slack_rate_limit_scale if name == "SLACK_RATE_LIMIT_SCALE" else loaded.lease_seconds
        assert math.isfinite(value) and low <= value <= high
    else:  # the value as read: spaces and a newline around it are no part of it (config.given)
        assert (loaded.startswith(f"{name}: {text.strip()!r} is not allowed; use ")
                or loaded.startswith(f"{name}: its value is in quotes")) and "\n" not in loaded


@given(text=NUMBER_TEXTS)
def test_start_up_and_the_health_check_agree_on_what_a_port_is(text: str) -> None:
    loaded = _load("PORT", text)
    healthy, line = check({"PORT": text})
    refused_by_the_check = line.startswith("PORT: ")
    if isinstance(loaded, Settings):
        assert 1 <= loaded.port <= 65535 and not refused_by_the_check
    else:
        assert (loaded.startswith(f"PORT: {text.strip()!r} is not a TCP port")
                or loaded.startswith("PORT: its value is in quotes")) and refused_by_the_check and not healthy
