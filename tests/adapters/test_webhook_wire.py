"""JSON at the door (bot/adapters/wire.py), which every webhook and Slack's requests are read with: UTF-8 only, the
nesting limit checked before the parser, numbers, text made safe, and the one-line reasons."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.adapters import wire
from bot.errors import DeliveryError

DOCUMENT = {"event": {"id": "E1", "title": "Checkout down \u2014 \U0001f525", "tags": ["a", {"b": [1, 2.5]}]}}


def test_utf8_is_read_and_a_byte_order_mark_is_dropped() -> None:
    text = json.dumps(DOCUMENT, ensure_ascii=False)
    assert wire.read_json(text.encode()) == DOCUMENT
    assert wire.read_json(b"\xef\xbb\xbf" + text.encode()) == DOCUMENT
    assert wire.decode(b"\xef\xbb\xbf{}", drop_bom=False) == "\ufeff{}"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_not_utf8(encoding: str) -> None:
    with pytest.raises(DeliveryError, match=r"^body is not UTF-8"):
        wire.read_json(json.dumps(DOCUMENT).encode(encoding))


def test_cesu8_and_encoded_surrogates_are_not_utf8() -> None:
    # CESU-8 writes U+1F525 as its two UTF-16 surrogates, three bytes each; a lone one is half of that.
    cesu8 = "\ud83d\udd25".encode("utf-8", "surrogatepass")
    assert cesu8 == b"\xed\xa0\xbd\xed\xb4\xa5" and "\U0001f525".encode() == b"\xf0\x9f\x94\xa5"
    for body in (b'{"title": "' + cesu8 + b'"}', b'{"title": "' + cesu8[:3] + b'"}'):
        with pytest.raises(DeliveryError, match=r"^body is not UTF-8 \(byte 11 is 0xed\)"):
            wire.read_json(body)


@pytest.mark.parametrize("levels", [wire.MAX_DEPTH + 1, 5000, 100_000])
def test_nesting_deeper_than_the_limit_is_refused_before_parsing(levels: int) -> None:
    for body in ("[" * levels + "]" * levels, '{"a":' * levels + "1" + "}" * levels, "[" * levels):
        with pytest.raises(DeliveryError, match=f"^body is nested more than {wire.MAX_DEPTH} levels deep$"):
            wire.loads(body)


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_fine() -> None:
    deep = "[" * wire.MAX_DEPTH + "]" * wire.MAX_DEPTH
    assert wire.loads(deep) is not None
    brackets = json.dumps({"title": "[" * 5000 + '\\"{' * 100, "n": [[1]]})
    assert wire.loads(brackets)["n"] == [[1]]


def test_the_depth_scan_reads_each_character_once_whatever_the_quotes() -> None:
    # Escaped quotes and no closing one, a whole body's worth: a scan that retried from every quote took minutes.
    for body in ("[" * 70 + '"' + '\\"' * 130_000, '["\\' * 87_000, '"' * 262_000 + "[" * 65):
        with pytest.raises(DeliveryError, match="nested more than 64 levels"):
            wire.check_depth(body)


def test_signed_garbage_is_not_json() -> None:
    for body in (b"garbage", b"{", b'{"a": }', b"\x01\x02", b""):
        with pytest.raises(DeliveryError, match=r"^body is not JSON \(.* at position \d+\)$"):
            wire.read_json(body)


def test_numbers_are_kept_at_the_door_and_bounded_by_check_numbers() -> None:
    document = wire.read_json(b'{"a": 1e30, "b": 9223372036854775808, "c": Infinity, "d": NaN, "e": -1, "f": 1.5}')
    assert document["a"] == 1e30 and document["b"] == 2 ** 63
    assert json.loads(wire.dumps(document))["b"] == 2 ** 63  # stored exactly as sent
    with pytest.raises(DeliveryError, match=r"^body has an integer of 5000 digits; at most 4300 are read$"):
        wire.read_json(b"[" + b"9" * 5000 + b"]")
    wire.check_numbers({"ok": [wire.INT64_MAX, wire.INT64_MIN, 1e308, True, "Infinity"]}, "data")
    for value, said in ((2 ** 63, "9223372036854775808, beyond a 64-bit integer"),
                        (-(2 ** 63) - 1, "-9223372036854775809, beyond a 64-bit integer"),
                        (10 ** 40, "an integer of 41 digits, beyond a 64-bit integer"),
                        (float("inf"), "Infinity, not a finite number"), (float("-inf"), "-Infinity, not a finite"),
                        (float("nan"), "NaN, not a finite number")):
        with pytest.raises(DeliveryError, match=f"^data.x\\[1\\].y is {re.escape(said)}"):
            wire.check_numbers({"x": [0, {"y": value}]}, "data")


def test_a_reason_names_our_fields_but_never_quotes_the_senders_keys() -> None:
    with pytest.raises(DeliveryError, match=r"^data\.custom\.\?\[0\] is Infinity, not a finite number$"):
        wire.check_numbers({"custom": {"secret note: call 555": [float("inf")]}}, "data")
    assert wire.unsafe_text_at({"a b": {"c": "\ud800"}}, "body") == "body.?.c"


def test_lone_surrogates_become_the_replacement_character_and_nul_goes_in_keys_and_values() -> None:
    body = json.dumps({"S\ud83d": ["a\x00b", {"k\udc00": "\ud83d\ude00 ok \udfff"}]}).encode()
    assert body.isascii()  # the escapes as sent: \ud83d, \u0000
    document = wire.read_json(body)
    assert document == {"S\ufffd": ["ab", {"k\ufffd": "\U0001f600 ok \ufffd"}]}
    assert wire.dumps(document).encode("utf-8")  # now encodes, for SQLite, Slack and logs alike
    assert wire.read_stored(wire.dumps(document)) == document
    assert wire.safe_text("plain") == "plain"


def test_a_stored_body_with_a_byte_order_mark_reads() -> None:
    assert wire.read_stored("\ufeff" + json.dumps(DOCUMENT)) == DOCUMENT


def test_where_a_lone_surrogate_is_is_said_for_bodies_that_cannot_be_cleaned() -> None:
    assert wire.unsafe_text_at({"a": ["x", {"b": "S\ud83d"}]}, "body") == "body.a[1].b"
    assert wire.unsafe_text_at({"a\udc00": 1}, "body") == "a key in body"
    assert wire.unsafe_text_at({"a": ["\U0001f600", "\x00"]}, "body") is None


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("", None), ("D-1", "D-1")])
def test_a_delivery_id_header_is_printable_ascii(header: str | None, expected: str | None) -> None:
    headers = {} if header is None else {"X-Id": header}
    assert wire.header_id(headers, "X-Id") == expected
    for bad in ("D\u00e9", "D\udcff", "D\n1", "D" * 256):
        with pytest.raises(DeliveryError, match=r"^X-Id is not a delivery id"):
            wire.header_id({"X-Id": bad}, "X-Id")


class Shape(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str
    count: int
    items: list[dict[str, Any]]


@pytest.mark.parametrize(("value", "reason"), [
    ({"count": 1, "items": []}, "data.name is missing"),
    ({"name": 1, "count": 1, "items": []}, "data.name is 1, not a string"),
    ({"name": "a", "count": "1", "items": []}, "data.count is a string, not a whole number"),
    ({"name": "a", "count": 1.5, "items": []}, "data.count is 1.5, not a whole number"),
    ({"name": "a", "count": 1, "items": [{}, 3]}, "data.items[1] is 3, not an object"),
    ({"name": "a", "count": 1, "items": {}}, "data.items is an object, not a list"),
])
def test_a_validation_error_is_one_line_naming_the_field_without_quoting_text(value: dict[str, Any],
                                                                              reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Shape.model_validate(value)
    assert wire.reason(raised.value, "data") == reason
