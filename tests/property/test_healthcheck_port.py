"""Property: whatever PORT holds, the container's health check answers (healthy or not) in one line and never
raises; text that is not a TCP port is refused, naming PORT, without a connection being tried."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.app.healthcheck import check


def is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) <= 65535


# Digits of every script too ('²', '٣٠٠٠'): str.isdigit() says yes to them, int() to some.
DIGITS = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)


# Spaces and a newline around a value are no part of it (bot/app/config.py's `given`): only space is no value at all,
# and the default port is used, by the server and the check alike.
@given(st.one_of(st.text(), DIGITS, st.from_regex(r"\A[0-9]{1,7}\Z"), st.integers().map(str)).filter(
    lambda text: bool(text.strip()) and not is_port(text.strip())))
def test_any_port_text_that_is_no_tcp_port_is_refused_in_one_line(port: str) -> None:
    healthy, line = check({"PORT": port})
    assert not healthy
    assert line.startswith("PORT: ") and len(line.splitlines()) == 1
