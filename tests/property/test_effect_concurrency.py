"""Property: whatever PAVEDROAD_EFFECT_CONCURRENCY holds, check-config either gives every named outside system a
count from 1 to 1000 or names the variable in a one-line problem; it never fails otherwise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.app.config import effect_concurrency
from bot.domain.effects import LANES

parts = st.one_of(
    st.builds(lambda s, n: f"{s}={n}", st.sampled_from([*LANES, "Slack", "jira", ""]),
              st.one_of(st.integers(-5, 2000).map(str), st.text(max_size=6))),
    st.text(max_size=20))


@given(st.lists(parts, max_size=6).map(",".join))
def test_every_value_gives_limits_or_named_problems(text: str) -> None:
    problems: list[str] = []
    chosen = effect_concurrency(text, problems)
    assert set(chosen) <= set(LANES)
    assert all(1 <= count <= 1000 for count in chosen.values())
    for problem in problems:
        assert problem.startswith("PAVEDROAD_EFFECT_CONCURRENCY: ") and "\n" not in problem
