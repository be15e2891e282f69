"""The README stays the truth: its configuration table is the code's, and its first screen has the two commands."""

from __future__ import annotations

from pathlib import Path

from bot.app.config import reference_table

README = (Path(__file__).parent.parent / "README.md").read_text()
CI = (Path(__file__).parent.parent / ".ci" / "run").read_text()


def test_configuration_reference_matches_the_code() -> None:
    assert reference_table() in README


def test_first_screen_has_the_sandbox_and_test_commands_and_ci_runs_the_same() -> None:
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make sandbox" in first_screen and "make test" in first_screen
    assert "\nmake test\n" in CI


def test_the_business_rule_in_the_readme_is_the_one_the_emulator_plays() -> None:
    from sandbox.servicenow.emulator import BUSINESS_RULE_SCRIPT
    assert BUSINESS_RULE_SCRIPT.strip() in README


def test_the_after_the_incident_catalogue_keys_are_documented_and_in_the_example() -> None:
    example = (Path(__file__).parent.parent / "bot" / "example_catalogue.yml").read_text()
    for section, key in (("channels", "archive_after"), ("timeline", "reaction"), ("review", "on_resolve")):
        assert f"| `{section}.{key}` |" in README
        assert f"\n{section}:" in example and f"\n  {key}: " in example
    assert "## After the incident" in README


def test_the_retention_key_is_documented_and_in_the_example() -> None:
    example = (Path(__file__).parent.parent / "bot" / "example_catalogue.yml").read_text()
    assert "| `retention.days` | `30` |" in README
    assert "\nretention:\n" in example and "\n  days: 30\n" in example
    assert "pavedroad_store_pruned_rows_total" in README


def test_the_migration_count_the_readme_gives_is_the_stores() -> None:
    # It said "the same twelve" and "version 12" while `pavedroad migrate` applied eighteen.
    from bot.adapters.store.postgres.migrations import MIGRATIONS as POSTGRES
    from bot.adapters.store.sqlite.migrations import MIGRATIONS as SQLITE
    assert len(SQLITE) == len(POSTGRES)
    assert f"applied migration(s) 1, 2, …, {len(SQLITE)}; the schema is now at version {len(SQLITE)}." in README
