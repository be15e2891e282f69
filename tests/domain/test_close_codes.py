"""The close codes a resolve sets, from the catalogue's and the instance's choices (bot/domain/close_codes.py)."""

from __future__ import annotations

from bot.domain.close_codes import Choice, CloseCodes, Mismatch, close_codes

OLD = [Choice(c, c) for c in ("Solved (Work Around)", "Solved (Permanently)", "Closed/Resolved by Caller")]
NEW = [Choice(c, c) for c in ("Duplicate", "Resolved by caller", "Solution provided", "Workaround provided")]


def test_codes_the_instance_offers_are_set_as_they_are() -> None:
    assert close_codes("Solved (Permanently)", "Duplicate", OLD + NEW) == CloseCodes("Solved (Permanently)",
                                                                                     "Duplicate")
    assert close_codes("Workaround provided", "Duplicate", NEW) == CloseCodes("Workaround provided", "Duplicate")


def test_unread_choices_leave_the_catalogues_codes() -> None:
    assert close_codes("Solved (Permanently)", "Duplicate", None) == CloseCodes("Solved (Permanently)", "Duplicate")
    assert close_codes("Solved (Permanently)", "Duplicate", []) == CloseCodes("Solved (Permanently)", "Duplicate")


def test_each_release_gets_the_others_equivalent() -> None:
    assert close_codes("Solved (Permanently)", "Duplicate", NEW) == CloseCodes(
        "Solution provided", "Duplicate", (Mismatch("servicenow.close_code", "Solved (Permanently)",
                                                    "Solution provided"),))
    assert close_codes("Resolved by caller", "Duplicate", OLD) == CloseCodes(
        "Closed/Resolved by Caller", "Closed/Resolved by Caller", (
            Mismatch("servicenow.close_code", "Resolved by caller", "Closed/Resolved by Caller"),
            Mismatch("servicenow.merged_close_code", "Duplicate", "Closed/Resolved by Caller")))


def test_a_label_or_another_case_finds_the_choices_value() -> None:
    custom = [Choice("solved_perm", "Solved (Permanently)"), Choice("dup", "Duplicate")]
    codes = close_codes("Solved (Permanently)", "duplicate", custom)
    assert (codes.close_code, codes.merged_close_code) == ("solved_perm", "dup")


def test_a_code_with_no_equivalent_is_kept_and_said() -> None:
    codes = close_codes("Fixed by magic", "Duplicate", OLD)
    assert (codes.close_code, codes.merged_close_code) == ("Fixed by magic", "Duplicate")  # neither offered
    assert [m.key for m in codes.mismatches] == ["servicenow.close_code", "servicenow.merged_close_code"]
