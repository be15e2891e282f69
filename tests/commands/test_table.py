"""The subcommand table is the one source: every entry has a handler, `help` lists every entry, and every
subcommand handler in commands/handlers.py is reached from the table."""

from __future__ import annotations

import inspect

from commands import handlers, toolkit
from commands.table import BY_NAME, SLASH_COMMAND, SUBCOMMANDS, usage_text


def test_every_entry_has_its_own_handler() -> None:
    assert len(BY_NAME) == len(SUBCOMMANDS)
    for entry in SUBCOMMANDS:
        assert inspect.iscoroutinefunction(entry.handler), entry.name
        assert list(inspect.signature(entry.handler).parameters) == ["s", "asked"], entry.name
    assert len({entry.handler for entry in SUBCOMMANDS}) == len(SUBCOMMANDS)


def test_help_lists_every_entry_with_its_usage_and_summary() -> None:
    lines = usage_text().splitlines()[1:]
    assert lines == [f"• `{SLASH_COMMAND} {entry.usage}` — {entry.summary}" for entry in SUBCOMMANDS]
    for entry in SUBCOMMANDS:
        assert entry.usage.split()[0] == entry.name


def test_every_subcommand_handler_is_in_the_table() -> None:
    in_table = {entry.handler for entry in SUBCOMMANDS}
    for module in (handlers, toolkit):
        written = {function for name, function in vars(module).items()
                   if inspect.iscoroutinefunction(function) and function.__module__ == module.__name__
                   and not name.startswith("_") and list(inspect.signature(function).parameters) == ["s", "asked"]}
        assert written <= in_table and written, "a handler no subcommand reaches"


def test_the_properties_fit_what_each_subcommand_does() -> None:
    # A form asks for the text an incident's action needs; repeated, such a command must not act twice.
    opens_forms = {e.name for e in SUBCOMMANDS if e.may_open_modal}
    assert opens_forms == {"resolve", "page-im", "update"}
    assert all(BY_NAME[n].needs_incident and BY_NAME[n].takes_text and BY_NAME[n].acts_once for n in opens_forms)
    # A follow-up repeated by a double submit is one action item; an update, one.
    # Everything that changes something is done once per repeat — a note or an acknowledgement included (the same
    # note twice in PagerDuty is noise on the record); only reads repeat, and `role` and `priority`, which are
    # harmless twice and whose A, B, A must end with A.
    # What posts for everyone in a channel (a report, a handover with `post`) is posted once per repeat too.
    assert {e.name for e in SUBCOMMANDS if e.acts_once} == {"ack", "resolve", "page-im", "page", "note", "new",
                                                            "followup", "update", "handover-note", "review",
                                                            "report", "handover"}
    # Bare, only these act: a bare resolve, page-im or update opens a form, a bare role lists the roles.
    assert {e.name for e in SUBCOMMANDS if e.acts_bare} == {"ack", "review", "report"}
    # A handover only the asker sees may be asked again at once; posted, it is once.
    assert BY_NAME["handover"].guarded("payments post") and not BY_NAME["handover"].guarded("payments")
    assert not BY_NAME["handover"].guarded("")
    assert all(e.acts_once for e in SUBCOMMANDS if e.acts_bare)
    assert {e.name for e in SUBCOMMANDS if e.needs_incident} == {"ack", "resolve", "page-im", "page", "note",
                                                                 "status", "timeline", "followup", "followups",
                                                                 "review", "role", "update", "priority"}
    assert [e.name for e in SUBCOMMANDS if e.answered_in_ack] == ["help"]
