"""The instance's incident close codes (ServiceNow's sys_choice rows), hostile: values and labels in any script, in
any case, padded with whitespace, very long, empty, duplicated, of the wrong type, rows that are no record at all.
Read through the real adapter from the sandbox's ServiceNow (bot/adapters/servicenow/tickets.py `close_code_choices`)
and matched against the catalogue's codes (bot/domain/close_codes.py): nothing but the documented IntegrationError
escapes, every choice read is a non-empty value the instance holds, and a resolve sets a code the instance offers —
or, when nothing it offers is the configured code or its equivalent, the configured code as it is, the operators
told (a Mismatch) — never a code of its own making.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event as outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.close_codes import EQUIVALENTS, Choice, CloseCodes, close_codes
from bot.errors import IntegrationError
from sandbox.servicenow.choices import NEW_CODES, OLD_CODES
from sandbox.world import RunningSandbox
from tests.property.loop_bridge import OnTheLoop, run_property

RELEASES = [*OLD_CODES, *NEW_CODES, *(k.title() for k in EQUIVALENTS)]
# A code as someone (an admin, a catalogue's author) might have typed it: another case, padded, another script's
# look-alikes and casefold specials, huge, or nothing.
ODD = st.sampled_from(["", " ", "\t", "\u00a0", "\u200b", "ß", "SS", "ﬁ", "İ", "i̇", "\u03a3", "\u03c2",
                       "\u03c3", "\ufeff", "\uff33\uff4f\uff4c\uff55\uff54\uff49\uff4f\uff4e provided",
                       "Solved (Permanently)\x00", "\u202esolved", "é", "e\u0301"])
CODE = st.one_of(
    st.sampled_from(RELEASES),
    st.builds(lambda code, how: how(code), st.sampled_from(RELEASES), st.sampled_from([
        str.upper, str.lower, str.casefold, lambda c: f"  {c}\t", lambda c: c.replace(" ", "\u00a0"),
        lambda c: c * 300])),
    ODD, st.text(max_size=30),
    st.builds(lambda piece, times: piece * times, st.sampled_from(["a", "é😀", " "]), st.integers(0, 5_000)))
# As the adapter reads them: never an empty value (a row without one is passed over).
CHOICES = st.lists(st.builds(Choice, CODE.filter(bool), CODE), max_size=12)


def check(codes: CloseCodes, close_code: str, merged_close_code: str, choices: list[Choice] | None) -> None:
    values = {c.value for c in choices or ()}
    if not choices:  # not read: the catalogue's, as they are
        assert codes == CloseCodes(close_code, merged_close_code), codes
        return
    # A value the instance offers, or the configured code kept as it is (nothing offered is it or its equivalent).
    assert codes.close_code in values | {close_code}, codes
    assert codes.merged_close_code in values | {merged_close_code, codes.close_code}, codes
    told = {m.key: m for m in codes.mismatches}
    for key, configured, used in (("servicenow.close_code", close_code, codes.close_code),
                                  ("servicenow.merged_close_code", merged_close_code, codes.merged_close_code)):
        if configured in values:  # offered as it is: set as it is, nobody told
            assert used == configured and key not in told, (key, codes)
        else:  # the operators hear what is set instead
            assert key in told and told[key].configured == configured and told[key].used == used, (key, codes)
        if used not in values:
            assert used == configured or key.endswith("merged_close_code"), (key, codes)


@given(close_code=CODE, merged_close_code=CODE, choices=st.one_of(st.none(), CHOICES))
def test_close_codes_set_only_what_the_instance_offers_or_the_catalogue_says(
        close_code: str, merged_close_code: str, choices: list[Choice] | None) -> None:
    codes = close_codes(close_code, merged_close_code, choices)
    outcome("kept" if not codes.mismatches else "swapped" if any(m.used != m.configured for m in codes.mismatches)
            else "kept, told")
    check(codes, close_code, merged_close_code, choices)


# ----- read from the sandbox's instance -------------------------------------------------------------------------------

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63), st.floats(allow_nan=False),
                 st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.text(max_size=3),
                                                                            max_size=2))
FIELD = st.one_of(CODE.filter(lambda text: "\x00" not in text), JUNK)


@st.composite
def sys_choice_rows(draw: st.DrawFn) -> dict[str, Any]:
    """sys_choice's incident close_code rows, a few of them hostile (the Table API's filter passes them all)."""
    rows: dict[str, Any] = {}
    for n in range(draw(st.integers(0, 12))):
        row: dict[str, Any] = {"sys_id": f"{n:032x}", "name": "incident", "element": "close_code",
                               "language": draw(st.sampled_from(["en", "de", "ja"])), "sequence": str(n),
                               "inactive": "false", "dependent_value": ""}
        for field in ("value", "label"):
            if draw(st.integers(0, 5)):
                row[field] = draw(FIELD)
        rows[row["sys_id"]] = row
    return rows


async def test_odd_sys_choice_rows_read_and_matched_safely(sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()
    instance, tickets = sandbox.sandbox.servicenow, sandbox.bot.tickets
    assert tickets is not None  # (the sandbox's bot has ServiceNow)

    @settings(max_examples=40)  # each example is a read through the adapter and the emulator
    @given(rows=sys_choice_rows(), close_code=CODE, merged_close_code=CODE)
    def prop(rows: dict[str, Any], close_code: str, merged_close_code: str) -> None:
        instance.tables["sys_choice"] = rows
        try:
            read = on_loop.run(tickets.close_code_choices())
        except IntegrationError as refused:
            assert str(refused).strip()
            outcome("refused")
            return
        held = {str(row["value"]) for row in rows.values() if isinstance(row.get("value"), (str, int, float))}
        assert all(isinstance(v, str) and isinstance(label, str) and v and label for v, label in read), read
        assert {v for v, _ in read} <= held, (read, held)
        assert len({v for v, _ in read}) == len(read)  # each value once, whatever the languages
        choices = [Choice(value, label) for value, label in read]
        check(close_codes(close_code, merged_close_code, choices), close_code, merged_close_code, choices)
        outcome(f"read {min(len(read), 3)}+ choices")

    await run_property(prop)
    assert (await sandbox.bot.readiness())["dead_effects"] == []
