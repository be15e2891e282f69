"""JSON at the door, shared by the adapters that read what someone sent us (PagerDuty's and ServiceNow's webhooks,
Slack's requests): bytes to text, text to a document, and a document made safe to keep.

- Text is strict UTF-8 (RFC 8259 §8.1); a leading byte-order mark is dropped, UTF-16/32 and CESU-8 are refused.
- Nesting is limited (`MAX_DEPTH`) by a linear scan BEFORE the parser runs, so no body can make it recurse deep.
- Numbers: integers longer than Python reads are refused; `check_numbers` holds a document to 64-bit integers and
  finite numbers where the reader needs that.
- Strings, keys and values alike, are made safe for every store and outside system (`clean`): a lone surrogate
  (half an emoji, as a JSON escape) becomes U+FFFD, NUL is removed. `dumps` writes the cleaned document back.
- A pydantic validation error is said in one line naming the field (`reason`).

Every refusal is a DeliveryError whose message is the one-line reason the sender is answered with; no message
carries a piece of the body beyond a number.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints, ValidationError

from bot.domain.storable import storable, storable_document
from bot.errors import DeliveryError

MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
MAX_INT_DIGITS = sys.int_info.default_max_str_digits
MAX_HEADER_ID = 255
_BOM = b"\xef\xbb\xbf"
# A string, or an unterminated one to the end of the text: never a failed match, so each character is read once.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def decode(body: bytes, *, drop_bom: bool = True) -> str:
    """The body as text: strict UTF-8, without a leading byte-order mark (unless `drop_bom` is False: a signed body
    handed on as it came)."""
    if drop_bom and body.startswith(_BOM):
        body = body[len(_BOM):]
    if b"\x00" in body:  # JSON never holds a raw NUL; UTF-16 and UTF-32 hold many
        raise DeliveryError("body is not UTF-8: it has NUL bytes (UTF-16 or UTF-32?); send UTF-8 JSON")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DeliveryError(f"body is not UTF-8 (byte {error.start} is 0x{body[error.start]:02x}); send UTF-8 "
                            "JSON") from None


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit`, counting brackets outside strings: linear, and before any parser
    recurses. On valid JSON the count is exact; on broken JSON it is never below what a parser would reach."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                raise DeliveryError(f"body is nested more than {limit} levels deep")
        else:
            depth = max(depth - 1, 0)


def loads(text: str) -> Any:
    """The JSON document in `text`, nesting checked first. NaN and Infinity are read as floats and integers of any
    size up to MAX_INT_DIGITS as ints: `check_numbers` is for the reader that needs bounds. DeliveryError says why
    text is not JSON."""
    check_depth(text)
    try:
        return json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as error:
        raise DeliveryError(f"body is not JSON ({error.msg} at position {error.pos})") from None


def read_json(body: bytes) -> Any:
    """A body as a cleaned document: `decode`, `loads`, `clean`."""
    return _cleaned(loads(text := decode(body)), text)


def read_to_store(body: bytes) -> tuple[Any, str]:
    """A body as a cleaned document (`read_json`), and the text to store for it: the text as it came (without a
    byte-order mark) when nothing in it needs cleaning — it then reads back into the same document, and writing the
    document out again would cost as much as parsing it — else the cleaned document written compactly (`dumps`)."""
    document = loads(text := decode(body))
    if _needs_cleaning(text):
        document = clean(document)
        return document, dumps(document)
    return document, text


def read_stored(text: str) -> Any:
    """A body the inbox stored, as a cleaned document (bodies stored before the door cleaned them included)."""
    text = text.removeprefix("\ufeff")
    return _cleaned(loads(text), text)


def _cleaned(document: Any, text: str) -> Any:
    """`clean(document)`, skipped when the text it was parsed from holds neither a JSON escape (`\\u…`) nor a raw
    NUL or lone surrogate: then no string in the document can hold one either. Every delivery is read twice (at the
    door and when applied), most hold none, and walking them costs as much as parsing them."""
    return clean(document) if _needs_cleaning(text) else document


def _needs_cleaning(text: str) -> bool:
    """Whether a string in the JSON document `text` may hold a lone surrogate or a NUL: only through a `\\u` escape,
    or raw in the text."""
    return "\\u" in text or "\x00" in text or (not text.isascii() and _UNSAFE.search(text) is not None)


def read_stored_checked(text: str) -> tuple[Any, bool]:
    """`read_stored`, and whether every number in the document fits `check_numbers` (then the reader need not walk
    the document to check them): told by the parser as it reads each number, which costs next to nothing."""
    text = text.removeprefix("\ufeff")
    document, fit = _parse_checked(text)
    return _cleaned(document, text), fit


def read_to_store_checked(body: bytes) -> tuple[Any, str, bool]:
    """`read_to_store`, and whether every number in the document fits (`read_stored_checked`'s answer for the text
    stored): a reader handed the document at the door needs neither the text parsed again nor the numbers walked."""
    document, fit = _parse_checked(text := decode(body))
    if _needs_cleaning(text):
        document = clean(document)
        return document, dumps(document), fit
    return document, text, fit


def _parse_checked(text: str) -> tuple[Any, bool]:
    """`loads`, and whether every number fits `check_numbers`."""
    check_depth(text)
    fit = True

    def integer(digits: str) -> int:
        nonlocal fit
        value = _integer(digits)
        fit = fit and INT64_MIN <= value <= INT64_MAX
        return value

    def number(digits: str) -> float:
        nonlocal fit
        value = float(digits)
        fit = fit and math.isfinite(value)
        return value

    def constant(name: str) -> float:  # NaN, Infinity, -Infinity: read as json.loads reads them
        nonlocal fit
        fit = False
        return float(name)
    try:
        return json.loads(text, parse_int=integer, parse_float=number, parse_constant=constant), fit
    except json.JSONDecodeError as error:
        raise DeliveryError(f"body is not JSON ({error.msg} at position {error.pos})") from None


def dumps(document: Any) -> str:
    """A cleaned document as the text to store (compact; non-ASCII kept as characters; NaN/Infinity kept)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


# Text any store or outside system takes: lone surrogates become U+FFFD (the replacement character), NUL goes — the
# rule an outside service's error text and Slack's requests are held to as well (bot/domain/storable.py). `clean`:
# a document with every string in it, keys included, made so.
safe_text, clean = storable, storable_document


def unsafe_text_at(value: Any, path: str) -> str | None:
    """Where in `value` a string (or key) holds a lone surrogate, or None: for a body that cannot be rewritten
    (a signed request handed on as it came) and is refused instead."""
    if isinstance(value, str):
        return path if any("\ud800" <= c <= "\udfff" for c in value) else None
    if isinstance(value, list):
        return next((p for i, item in enumerate(value) if (p := unsafe_text_at(item, f"{path}[{i}]"))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if unsafe_text_at(key, path):
                return f"a key in {path}"
            if found := unsafe_text_at(item, _path(path, (key,))):
                return found
    return None


def check_numbers(value: Any, path: str) -> None:
    """Refuse a document holding an integer outside 64 bits or a number that is not finite (NaN, Infinity,
    1e400), naming where it is. (A reader that has the document's text asks `numbers_fit` first: it is cheaper.)"""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise DeliveryError(f"{path} is {describe(value)}, beyond a 64-bit integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise DeliveryError(f"{path} is {describe(value)}, not a finite number")
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_numbers(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_numbers(item, _path(path, (key,)))


def header_id(headers: Mapping[str, str], name: str) -> str | None:
    """A sender's delivery id header, or None if absent: printable ASCII of at most MAX_HEADER_ID characters."""
    value = headers.get(name)
    if not value:
        return None
    if not (value.isascii() and value.isprintable() and len(value) <= MAX_HEADER_ID):
        raise DeliveryError(f"{name} is not a delivery id (printable ASCII, at most {MAX_HEADER_ID} characters)")
    return value


def describe(value: Any) -> str:
    """What a JSON value is, in a few words that never quote text: numbers are shown, strings only named."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= 30 else f"an integer of {digits} digits"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity") if math.isinf(value) \
            else repr(value)
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_EXPECTED = {"string_type": "a string", "int_type": "a whole number", "int_from_float": "a whole number",
             "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
             "list_type": "a list", "bool_type": "true or false", "float_type": "a number"}


def reason(error: ValidationError, root: str) -> str:
    """The first problem pydantic found, in one line naming the field from `root` (e.g. `event.data.number is
    1e+30, not a whole number`)."""
    problem = error.errors(include_url=False)[0]
    where = _path(root, problem["loc"])
    kind, context, value = problem["type"], problem.get("ctx") or {}, problem.get("input")
    if kind == "missing":
        return f"{where} is missing"
    if kind == "string_too_short":
        return f"{where} is empty"
    if kind == "string_too_long":
        return f"{where} is longer than {context.get('max_length')} characters"
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        low, high = context.get("ge", context.get("gt")), context.get("le", context.get("lt"))
        bounds = f"from {low} to {high}" if high is not None and low is not None else \
            f"up to {high}" if high is not None else f"from {low}"
        return f"{where} is {describe(value)}, not a whole number {bounds}"
    if kind == "value_error":
        return f"{where} {context.get('error')}"
    expected = _EXPECTED.get(kind)
    if expected:
        return f"{where} is {describe(value)}, not {expected}"
    return f"{where}: {problem['msg']}"


def _path(root: str, loc: Sequence[int | str]) -> str:
    """`root.a[0].b`; a key that is not a plain name (it is the sender's text, not a field of ours) shows as `?`."""
    path = root
    for part in loc:
        name = part if isinstance(part, str) and _NAME.fullmatch(part) else "?"
        path += f"[{part}]" if isinstance(part, int) else (f".{name}" if path else name)
    return path


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise DeliveryError(f"body has an integer of {len(text.lstrip('-'))} digits; at most {MAX_INT_DIGITS} "
                            "are read")
    return int(text)


# What both webhooks' pydantic models are made of: types as sent (no coercion: "5" is not 5), unknown fields kept out
# of the model, and an identifier as a non-empty string short enough to store and log.
STRICT_MODEL = ConfigDict(strict=True, extra="ignore", frozen=True)
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_HEADER_ID)]
