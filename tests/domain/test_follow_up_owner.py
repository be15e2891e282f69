"""The owner named at the end of `/incident followup <text> [@owner]`: a Slack mention or a plain `@name` standing as
a word of its own, never the domain of an email address that ends the follow-up. Pure parsing."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.domain.follow_ups import NamedOwner, named_owner


@pytest.mark.parametrize(("text", "expected"), [
    ("add an alert on checkout 5xx @ben", NamedOwner("add an alert on checkout 5xx", None, "ben")),
    ("add an alert <@U123|chloe.martin>", NamedOwner("add an alert", "U123", "chloe.martin")),
    ("add an alert <@W9>  ", NamedOwner("add an alert", "W9", None)),
    ("@ben", NamedOwner("", None, "ben")),
    ("rotate the keys, owner @ben.okafor.", NamedOwner("rotate the keys, owner", None, "ben.okafor")),
    ("rotate the keys @ben!", NamedOwner("rotate the keys", None, "ben")),
    ("runbook for refunds", NamedOwner("runbook for refunds", None, None)),
    # An email address ending the text is what needs doing, not who does it.
    ("ask vendor support@acme.com", NamedOwner("ask vendor support@acme.com", None, None)),
    ("ask vendor support@acme.com @ben", NamedOwner("ask vendor support@acme.com", None, "ben")),
])
def test_the_owner_ending_a_follow_up(text: str, expected: NamedOwner) -> None:
    assert named_owner(text) == expected


# What comes before the address: anything typed, mentions and other addresses included.
before = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(before=before, address=st.emails())
@example(before="ask vendor ", address="support@acme.com")
def test_an_email_address_ending_a_follow_up_never_names_its_owner(before: str, address: str) -> None:
    named = named_owner(f"{before}{address}")
    assert (named.owner_id, named.owner_name) == (None, None)
    assert named.text == f"{before}{address}"


@given(before=before, name=st.from_regex(r"[\w-]+(?:\.[\w-]+)*", fullmatch=True),
       space=st.sampled_from([" ", "\n", "\u00a0"]))
def test_a_plain_name_after_a_space_names_its_owner(before: str, name: str, space: str) -> None:
    assert named_owner(f"{before}{space}@{name}") == NamedOwner(before.rstrip(), None, name)
