"""`storable`: outside text made fit for every store — what comes out encodes as UTF-8 and holds no NUL, and text
that was fit already comes out as it went in."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.domain.storable import storable
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
