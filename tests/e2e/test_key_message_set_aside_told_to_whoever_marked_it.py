"""A 📌 on a person's message in an incident channel is recorded as a mark, and the message read back is recorded as
the key message; the worker applies each later. Either set aside (quarantined: its decision could not be stored),
the message joined nothing — not the timeline, the review nor the ticket — while the 📌 stayed on it in Slack, and
only the operators were told: whoever marked it believed it was in. Now they are told in their direct messages, once,
as a status update's or a follow-up's author is; an operator's `pavedroad inbox retry` then adds it (set aside again
under the same reference, it tells them no second time). End to end through the emulators, the store made to refuse
the mark's read or the key message's timeline line (a trigger, as a bug or a broken schema would).
"""

from __future__ import annotations

import contextlib
import html
import sqlite3
from typing import Any

import pytest

from bot.app.cli.main import main
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, command, opened, replies, slack_user, state
from tests.e2e.servicenow_helpers import settle_all
from tests.helpers import rows

ASHA, BEN = "asha.patel@example.com", "ben.okafor@example.com"
KEY_MESSAGE = "Rolled back 4.2.1 at 10:02 — checkout error rate back under <0.1%> & falling"


def direct_messages(running: RunningSandbox, user: str) -> list[str]:
    """What the app said to `user` in their direct messages with it."""
    slack = state(running)["slack"]
    ims = {c["id"] for c in slack["channels"] if c.get("is_im") and user in c.get("members", [])}
    return [html.unescape(m["text"]) for m in slack["messages"] if m["channel"] in ims]


def alerts_naming(running: RunningSandbox, reference: str) -> int:
    """The operators' alerts (outside anyone's direct messages) naming `reference`."""
    slack = state(running)["slack"]
    ims = {c["id"] for c in slack["channels"] if c.get("is_im")}
    return sum(1 for m in slack["messages"]
               if m["channel"] not in ims and reference in m["text"] and "set aside a delivery" in m["text"])


def sql(running: RunningSandbox, statement: str) -> None:
    with contextlib.closing(sqlite3.connect(running.bot.settings.db_path, isolation_level=None)) as conn:
        conn.execute(statement)


def failed_reference(running: RunningSandbox, event_type: str) -> str:
    [failed] = rows(running.bot.settings.db_path,
                    "SELECT reference FROM inbox WHERE state='failed' AND event_type=?", (event_type,))
    return str(failed["reference"])


async def marked(running: RunningSandbox) -> dict[str, Any]:
    """An incident's channel, once open, with Ben's message in it that Asha marked with 📌."""
    _, channel = await opened(running)
    posted = await as_user(running, "message", user=BEN, channel=channel["id"], text=KEY_MESSAGE)
    await as_user(running, "reaction", user=ASHA, channel=channel["id"], ts=posted["ts"], name="pushpin")
    await settle_all(running)
    return channel


async def timeline_shows_it(running: RunningSandbox, channel: dict[str, Any]) -> bool:
    shown = html.unescape(replies(await command(running, "timeline", channel["id"])))
    return "📌 Ben Okafor: Rolled back 4.2.1" in shown


@pytest.mark.parametrize(("refused", "event_type"), [
    # The mark set aside: its read is never queued.
    ("CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.kind = 'read_key_message'"
     " BEGIN SELECT RAISE(ABORT, 'reads are refused'); END", "key_message_marked"),
    # The message read back set aside: its timeline line is refused.
    ("CREATE TRIGGER refuse BEFORE INSERT ON timeline WHEN NEW.kind = 'key_message'"
     " BEGIN SELECT RAISE(ABORT, 'key message lines are refused'); END", "key_message"),
], ids=["the-mark", "the-message-read"])
async def test_a_key_message_set_aside_is_told_once_to_whoever_marked_it_and_a_retry_adds_it(
        sandbox: RunningSandbox, refused: str, event_type: str) -> None:
    sql(sandbox, refused)
    channel = await marked(sandbox)
    reference = failed_reference(sandbox, event_type)
    [dm] = direct_messages(sandbox, slack_user(sandbox, ASHA))
    assert f"you marked with 📌 in <#{channel['id']}> could not be added to the incident's key messages" in dm, dm
    assert f"reference `{reference}`" in dm and "Marking it again adds nothing" in dm, dm
    assert "`/incident note …`" in dm, dm
    if event_type == "key_message":  # read: whose, and its words, to post again
        assert dm.startswith("⚠️ Ben Okafor's message") and f"> {KEY_MESSAGE}" in dm, dm
    assert direct_messages(sandbox, slack_user(sandbox, BEN)) == []  # the author marked nothing
    assert not await timeline_shows_it(sandbox, channel)
    assert alerts_naming(sandbox, reference) == 1
    db = str(sandbox.bot.settings.db_path)

    # An operator retries it before the cause is fixed: set aside again under its reference, the operators alerted
    # again, and Asha, told once, not told again.
    assert main(["inbox", "retry", reference, "--db", db]) == 0
    await settle_all(sandbox)
    assert failed_reference(sandbox, event_type) == reference
    assert alerts_naming(sandbox, reference) == 2
    assert len(direct_messages(sandbox, slack_user(sandbox, ASHA))) == 1

    # The cause fixed, the retry adds it: `/incident timeline` shows it, and nobody is told anything more.
    sql(sandbox, "DROP TRIGGER refuse")
    assert main(["inbox", "retry", reference, "--db", db]) == 0
    await settle_all(sandbox)
    assert await timeline_shows_it(sandbox, channel)
    assert len(direct_messages(sandbox, slack_user(sandbox, ASHA))) == 1
    assert alerts_naming(sandbox, reference) == 2
