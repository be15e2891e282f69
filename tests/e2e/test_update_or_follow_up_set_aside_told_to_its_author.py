"""A status update (`/incident update`) or a follow-up (`/incident followup`) is recorded in the inbox and its author
answered at once ("on its way", "recorded"); the worker applies it later. Set aside (quarantined: its decision could
not be stored), it reached nobody, and its author — who believed the answer — was told nothing: only the operators
were. End to end through the emulators, the store made to refuse its timeline line (a trigger, as a bug or a broken
schema would).
"""

from __future__ import annotations

import contextlib
import html
import sqlite3

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import command, messages, opened, replies, slack_user, state
from tests.helpers import rows

ASHA = "asha.patel@example.com"


def direct_messages(running: RunningSandbox, user: str) -> list[str]:
    """What the app said to `user` in their direct messages with it."""
    slack = state(running)["slack"]
    ims = {c["id"] for c in slack["channels"] if c.get("is_im") and user in c.get("members", [])}
    return [html.unescape(m["text"]) for m in slack["messages"] if m["channel"] in ims]


def refuse_timeline_lines(running: RunningSandbox, kind: str) -> None:
    with contextlib.closing(sqlite3.connect(running.bot.settings.db_path, isolation_level=None)) as conn:
        conn.execute(f"CREATE TRIGGER refuse_{kind} BEFORE INSERT ON timeline WHEN NEW.kind = '{kind}'"
                     f" BEGIN SELECT RAISE(ABORT, '{kind} lines are refused'); END")


def failed_references(running: RunningSandbox, event_type: str) -> list[str]:
    return [r["reference"] for r in rows(running.bot.settings.db_path,
                                         "SELECT reference FROM inbox WHERE state='failed' AND event_type=?",
                                         (event_type,))]


async def test_a_status_update_set_aside_is_told_to_its_author_with_their_words(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    number = incident["incident_number"]
    refuse_timeline_lines(sandbox, "status_update")
    answer = replies(await command(sandbox, "update Rolling back the <10:02> deploy & watching 5xx", channel["id"]))
    assert "is on its way" in html.unescape(answer), answer  # as recorded
    [reference] = failed_references(sandbox, "status_update.posted")
    [dm] = direct_messages(sandbox, slack_user(sandbox, ASHA))
    assert f"Your status update on #{number} could not be published" in dm and reference in dm, dm
    assert "/incident update" in dm and "> Rolling back the <10:02> deploy & watching 5xx" in dm, dm
    # It reached nobody: the channel shows no update.
    assert not any("Rolling back" in m["text"] for m in messages(sandbox, channel["id"]))


async def test_a_follow_up_set_aside_is_told_to_whoever_added_it(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    number = incident["incident_number"]
    refuse_timeline_lines(sandbox, "follow_up")
    answer = replies(await command(sandbox, "followup Add an alert on checkout 5xx rate", channel["id"]))
    assert "Follow-up recorded" in answer, answer
    [reference] = failed_references(sandbox, "follow_up")
    [dm] = direct_messages(sandbox, slack_user(sandbox, ASHA))
    assert f"Your follow-up for #{number} could not be recorded" in dm and reference in dm, dm
    assert "/incident followup" in dm and "> Add an alert on checkout 5xx rate" in dm, dm
