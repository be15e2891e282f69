"""The adapters' JSON request bodies (bot/adapters/json_body.py) carry the document the standard library's encoder
would have sent, whatever text came from outside: any string (lone surrogates, NUL, emoji, markup), any integer
(past 64 bits too), keys of any kind json accepts — only spelt compactly, as UTF-8."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.json_body import json_text

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text())
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text() | st.integers(), inner, max_size=5), max_leaves=40)


@given(DOCUMENTS)
def test_any_body_reads_back_as_the_standard_librarys_would(document: Any) -> None:
    assert json.loads(json_text(document)) == json.loads(json.dumps(document))


def test_a_card_goes_out_compact_and_in_utf8() -> None:
    card = {"channel": "C1", "text": "#7 Checkout — 🔴 Triggered", "blocks": [{"type": "header", "text": {
        "type": "plain_text", "text": "#7 Checkout returns 500s"}}]}
    assert json_text(card) == ('{"channel":"C1","text":"#7 Checkout — 🔴 Triggered","blocks":[{"type":"header",'
                               '"text":{"type":"plain_text","text":"#7 Checkout returns 500s"}}]}')
    # Half an emoji has no UTF-8 spelling: the standard library's escape goes out, as before.
    assert json_text({"text": "\ud83d"}) == '{"text": "\\ud83d"}'
