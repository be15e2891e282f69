"""`storable`: outside text made fit for every store — what comes out encodes as UTF-8 and holds no NUL, and text
that was fit already comes out as it went in; `storable_document` does so to every string of a document."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from bot.domain.storable import storable, storable_document
from bot.errors import IntegrationError

# Any text a Python string may hold, lone surrogates (half an emoji) and NUL included.
anything = st.text(alphabet=st.characters(codec=None, exclude_categories=()))
# Text every store takes as it is: no surrogate, no NUL.
fit = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"))


@given(anything)
@example("half an emoji \ud800, a NUL \x00, the other half \udc00")
@example("\ud83d\ude00")  # a pair in a str is two lone surrogates: each replaced
def test_what_comes_out_encodes_as_utf8_and_holds_no_nul(text: str) -> None:
    kept = storable(text)
    kept.encode("utf-8")
    assert "\x00" not in kept
    # Only the unfit characters changed: each surrogate stands as U+FFFD, each NUL is gone.
    assert kept == "".join("" if c == "\x00" else "\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


@given(fit)
@example("ünïcödé, an emoji 😀, a replacement character \ufffd and a tab\t")
def test_text_fit_already_comes_out_unchanged(text: str) -> None:
    assert storable(text) == text


@given(detail=anything, code=anything)
def test_an_outside_failures_words_are_storable_however_they_came(detail: str, code: str) -> None:
    # Where every outside failure enters (the adapters raise only IntegrationError): its text is storable.
    error = IntegrationError("servicenow", detail, retryable=False, code=code)
    assert (str(error), error.detail, error.code) == (f"servicenow: {storable(detail)}", storable(detail),
                                                      storable(code))


def documents(text: st.SearchStrategy[str], keys: st.SearchStrategy[str] = fit) -> st.SearchStrategy[Any]:
    """JSON-like documents (a Slack request as Bolt reads it) whose strings are drawn from `text`, keys from `keys`
    (fit, by default: two keys that differ only in a NUL would become one)."""
    return st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                        max_leaves=12)


def strings_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in strings_of(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *strings_of(item)]]
    return []


@given(documents(anything))
@example({"view": {"state": {"values": {"b\x00": {"a": {"value": "Rolling\x00 back \ud83d"}}}}}})
def test_every_string_in_a_document_is_made_storable(document: Any) -> None:
    kept = storable_document(document)
    for text in strings_of(kept):
        text.encode("utf-8")
        assert "\x00" not in text
    # Nothing but its strings changed (keys included), each as `storable` changes it.
    assert strings_of(kept) == [storable(text) for text in strings_of(document)]


@given(documents(fit))
def test_a_document_fit_already_comes_out_equal(document: Any) -> None:
    assert storable_document(document) == document
