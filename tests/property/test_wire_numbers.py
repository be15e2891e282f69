"""The door's number check, property-based: `wire.read_stored_checked` says a stored body's numbers fit exactly when
walking its document with `wire.check_numbers` finds nothing to refuse, so a reader that trusts the flag refuses what
the walk would have refused; and its document is `read_stored`'s."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters import wire
from bot.errors import DeliveryError

numbers = st.one_of(st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([2 ** 63 - 1, 2 ** 63, -(2 ** 63), -(2 ** 63) - 1, 1e308, 0.5]))
leaves = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
documents = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=5), inner, max_size=4), max_leaves=25)
texts = st.one_of(documents.map(json.dumps), st.sampled_from(
    ['{"a": 1e400}', '{"a": -1E400}', '{"a": [1, 99999999999999999999]}', '{"a": NaN}', '{"a": -Infinity}',
     '{"a": 12345678901234567890.5}', '{"a": "1e400 NaN 99999999999999999999"}', '{"a": 1.5e3}']))


def walk_fits(document: Any) -> bool:
    try:
        wire.check_numbers(document, "body")
    except DeliveryError:
        return False
    return True


@given(text=texts)
def test_the_parser_says_what_the_walk_would(text: str) -> None:
    document, fit = wire.read_stored_checked(text)
    assert fit == walk_fits(document)
    again = wire.read_stored(text)
    assert json.dumps(document) == json.dumps(again)

