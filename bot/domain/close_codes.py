"""Which close codes a resolve sets, given the catalogue's (`servicenow.close_code`, `servicenow.merged_close_code`)
and the instance's incident close_code choices (sys_choice, as the Table API reads them).

ServiceNow stores a close code its choices lack without a word (an invalid choice that the desk's reports and the
"close code mandatory" UI policy do not recognise), and the choices changed with the Utah release: "Solved
(Permanently)" and its kin became "Solution provided", "Workaround provided", "Resolved by caller"…, and "Duplicate"
came in (older releases have no code for a duplicate). A configured code the instance does not offer is swapped for
its equivalent there, or, for a merge, for the code an ordinary resolve sets; one with no equivalent is kept as it is.
Pure: the caller reads the choices and tells the operators of what `Mismatch`es say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A configured code (lower-cased) → its equivalents, nearest first, in the other releases' choices (matched by value or
# label, whatever the case). "Duplicate" has none before Utah: a merge then takes the ordinary resolve's code.
EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "solved (permanently)": ("Solution provided",),
    "solved remotely (permanently)": ("Solution provided", "Solved (Permanently)"),
    "solution provided": ("Solved (Permanently)", "Solved Remotely (Permanently)"),
    "solved (work around)": ("Workaround provided",),
    "solved remotely (work around)": ("Workaround provided", "Solved (Work Around)"),
    "workaround provided": ("Solved (Work Around)", "Solved Remotely (Work Around)"),
    "closed/resolved by caller": ("Resolved by caller",),
    "resolved by caller": ("Closed/Resolved by Caller",),
    "not solved (not reproducible)": ("No resolution provided",),
    "not solved (too costly)": ("No resolution provided",),
    "no resolution provided": ("Not Solved (Not Reproducible)",),
}


@dataclass(frozen=True)
class Choice:
    """One of the instance's incident close_code choices: the value stored, the label people see."""

    value: str
    label: str


@dataclass(frozen=True)
class Mismatch:
    """A configured close code the instance does not offer: the catalogue key, its value, and what the bot sets
    instead (the configured value itself when nothing the instance offers is its equivalent)."""

    key: str
    configured: str
    used: str


@dataclass(frozen=True)
class CloseCodes:
    """The codes a resolve sets, and what differs from the catalogue's."""

    close_code: str
    merged_close_code: str
    mismatches: tuple[Mismatch, ...] = ()


def offered(code: str, choices: Sequence[Choice]) -> str | None:
    """The value of the instance's choice that is `code` (by value, else by label; whatever the case), if any."""
    exact = next((c.value for c in choices if c.value == code), None)
    wanted = code.strip().casefold()
    return exact or next((c.value for c in choices if wanted in (c.value.strip().casefold(),
                                                                 c.label.strip().casefold())), None)


def equivalent(code: str, choices: Sequence[Choice]) -> str | None:
    """The instance's value for `code`, or for its nearest equivalent in another release's choices; None if neither."""
    for candidate in (code, *EQUIVALENTS.get(code.strip().casefold(), ())):
        if (found := offered(candidate, choices)) is not None:
            return found
    return None


def close_codes(close_code: str, merged_close_code: str, choices: Sequence[Choice] | None) -> CloseCodes:
    """The codes to set. `choices` None or empty (not read: refused, failed, or hidden by an ACL): the catalogue's,
    as they are."""
    if not choices:
        return CloseCodes(close_code, merged_close_code)
    solved = equivalent(close_code, choices)
    merged = equivalent(merged_close_code, choices) or solved  # no code for a duplicate: an ordinary resolve's
    used = CloseCodes(solved or close_code, merged or merged_close_code)
    mismatches = tuple(Mismatch(key, configured, chosen) for key, configured, chosen in (
        ("servicenow.close_code", close_code, used.close_code),
        ("servicenow.merged_close_code", merged_close_code, used.merged_close_code))
        if offered(configured, choices) != configured)
    return CloseCodes(used.close_code, used.merged_close_code, mismatches)
