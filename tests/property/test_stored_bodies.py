"""What the door stores, property-based: `wire.read_to_store` keeps a body's text as it came when nothing in it needs
cleaning, else writes the cleaned document. Either way the stored text reads back (`wire.read_stored`, as the worker
reads it) into exactly the document the door read, and holds no NUL or lone surrogate, whatever JSON was sent and
however it was written (compact, spaced, indented, escaped or not, duplicate keys, NaN and big numbers)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters import wire
from bot.errors import DeliveryError

# Any character, lone surrogates and NUL included: json.dumps writes those as \u escapes (ensure_ascii) or raw.
characters = st.characters(codec=None, blacklist_categories=())
leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(characters, max_size=8))
documents = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(characters, max_size=5), inner, max_size=4), max_leaves=25)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    document = draw(documents)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 2])),
                      separators=draw(st.sampled_from([None, (",", ":")])))
    text = draw(st.sampled_from([text, '{"a": 1, "a": ' + text + "}", "\ufeff" + text, text + "\n"]))
    return text.encode("utf-8", "surrogatepass")


def same(one: Any, other: Any) -> bool:
    # Through json.dumps: NaN equals itself there, and lone surrogates are escaped alike.
    return json.dumps(one) == json.dumps(other)


@given(body=bodies())
def test_the_stored_text_reads_back_into_the_document_the_door_read(body: bytes) -> None:
    try:
        read = wire.read_json(body)
    except DeliveryError:  # not UTF-8 (a raw surrogate), too deep: refused at the door either way
        try:
            wire.read_to_store(body)
        except DeliveryError:
            return
        raise AssertionError("read_to_store let in a body read_json refuses") from None
    document, stored = wire.read_to_store(body)
    assert same(document, read)
    assert same(wire.read_stored(stored), read)
    assert "\x00" not in stored and stored.encode("utf-8")  # no NUL, no lone surrogate: every store takes it
    assert not stored.startswith("\ufeff")


@given(body=bodies())
def test_the_door_says_what_reading_the_stored_text_would(body: bytes) -> None:
    """`read_to_store_checked` (the PagerDuty door, whose reading the applier takes instead of parsing the stored text
    again) stores what `read_to_store` stores, with the document and number check `read_stored_checked` gives for it."""
    try:
        expected_document, expected_text = wire.read_to_store(body)
    except DeliveryError as error:
        try:
            wire.read_to_store_checked(body)
        except DeliveryError as same_error:
            assert str(same_error) == str(error)
            return
        raise AssertionError("read_to_store_checked let in a body read_to_store refuses") from None
    document, stored, fit = wire.read_to_store_checked(body)
    assert stored == expected_text and same(document, expected_document)
    again, fit_again = wire.read_stored_checked(stored)
    assert same(document, again) and fit == fit_again
