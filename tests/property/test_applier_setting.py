"""Property: whatever PAVEDROAD_APPLIER holds, the settings either say where the worker applies the inbox (`inline`
or `process`) or check-config names the variable in one one-line problem; it never fails otherwise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.app.config import APPLIERS, load_settings
from bot.errors import ConfigError

GOOD_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_API_TOKEN": "t",
            "PAGERDUTY_WEBHOOK_SECRETS": "secret"}
values = st.one_of(st.sampled_from(["inline", "process", " PROCESS\t", "Inline", "processes", "0", ""]),
                   st.text(max_size=12))


@given(values)
def test_every_value_is_a_place_to_apply_or_one_named_problem(value: str) -> None:
    try:
        settings = load_settings({**GOOD_ENV, "PAVEDROAD_APPLIER": value})
    except ConfigError as error:
        assert len(error.problems) == 1
        assert error.problems[0].startswith("PAVEDROAD_APPLIER: ") and "\n" not in error.problems[0]
        assert value.strip().lower() not in (*APPLIERS, "")
    else:
        assert settings.applier in APPLIERS
        assert settings.applier == (value.strip().lower() or "inline")
