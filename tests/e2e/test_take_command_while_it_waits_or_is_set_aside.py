"""A Take command is recorded once per incident (bot/domain/coordination.py `take_command_id`) and applied by the
worker. Two moments its later presses were answered wrongly, end to end through the emulators:

- the same person pressing it again after the 5 s repeat window, while the worker is behind (their first take not
  applied yet), was told "Someone else took command" — it was them;
- a take set aside (quarantined: its decision could not be stored) left the seat empty for good, the person who
  pressed it believing the "is now commander" they were answered, and everyone pressing the button after them told
  "Someone else took command … (the card shows who in a moment)", which it never did; then told the button could
  not take the seat any more (its record id was spent): now a press after it is recorded under a successor id.
"""

from __future__ import annotations

import contextlib
import html
import sqlite3

from bot.domain.coordination import take_command_id
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, card, move_clock, opened, replies, settle, slack_user, state
from tests.helpers import rows

ASHA, ERIN = "asha.patel@example.com", "erin.walsh@example.com"
TAKE_COMMAND = "incident_take_command"
HELD = "held-by-a-newer-version"


def direct_messages(running: RunningSandbox, user: str) -> list[str]:
    """What the app said to `user` in their direct messages with it."""
    slack = state(running)["slack"]
    ims = {c["id"] for c in slack["channels"] if c.get("is_im") and user in c.get("members", [])}
    return [html.unescape(m["text"]) for m in slack["messages"] if m["channel"] in ims]


async def take(running: RunningSandbox, who: str, channel: dict[str, object]) -> str:
    answer = await as_user(running, "action", user=who, channel=channel["id"], message_ts=card(running, channel)["ts"],
                           action_id=TAKE_COMMAND)
    return html.unescape(replies(answer))


def sql(running: RunningSandbox, statement: str, params: tuple[object, ...] = ()) -> None:
    with contextlib.closing(sqlite3.connect(running.bot.settings.db_path, isolation_level=None)) as conn:
        conn.execute(statement, params)


async def test_the_same_person_pressing_take_command_again_while_it_waits_is_told_it_is_theirs(
        sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    number = incident["incident_number"]
    # The worker is behind on this incident: a record a newer replica wrote heads its queue, and this version leaves
    # it (and the incident's rows after it) pending.
    assert await sandbox.bot.store.record_delivery(
        source="slack", delivery_id=HELD, event_id=HELD, event_type="role.renamed", incident_id=incident["id"],
        occurred_at=sandbox.sandbox.clock.now().isoformat(), body='{"type": "role.renamed"}')
    assert f"Asha Patel is now commander of #{number}" in await take(sandbox, ASHA, channel)
    await move_clock(sandbox, advance_seconds=6)  # past the repeat window ("Already on it")
    again = await take(sandbox, ASHA, channel)
    assert "Someone else took" not in again and f"You are already the incident commander of #{number}" in again, again
    # Someone else meanwhile is told who, though the seat is not filled yet.
    told = await take(sandbox, ERIN, channel)
    assert f"Asha Patel took command of #{number} just before you" in told, told
    # The worker catches up: Asha leads, once.
    sql(sandbox, "UPDATE inbox SET state='applied' WHERE event_id=?", (HELD,))
    await settle(sandbox)
    assert f"<@{slack_user(sandbox, ASHA)}>" in str(card(sandbox, channel)["blocks"])
    public = [html.unescape(m["text"]) for m in state(sandbox)["slack"]["messages"]
              if m["channel"] == channel["id"] and m["ephemeral_to"] is None]
    assert sum("is now commander" in line for line in public) == 1, public


async def test_a_take_command_set_aside_is_told_to_whoever_pressed_it_and_the_button_takes_the_seat_again(
        sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    number = incident["incident_number"]
    # The store refuses the role's timeline line (a trigger, as a bug or a broken schema would): the take is set aside.
    sql(sandbox, "CREATE TRIGGER refuse_roles BEFORE INSERT ON timeline WHEN NEW.kind = 'role_assigned'"
                 " BEGIN SELECT RAISE(ABORT, 'role lines are refused'); END")
    assert f"Asha Patel is now commander of #{number}" in await take(sandbox, ASHA, channel)  # as recorded
    await settle(sandbox)
    [failed] = rows(sandbox.bot.settings.db_path, "SELECT state, reference FROM inbox WHERE event_id=?",
                    (take_command_id(incident["id"]),))
    assert failed["state"] == "failed"
    [dm] = direct_messages(sandbox, slack_user(sandbox, ASHA))
    assert f"Your Take command of #{number} could not be applied" in dm and failed["reference"] in dm, dm
    assert "press Take command on its card again" in dm and "/incident role commander me" in dm, dm
    assert TAKE_COMMAND in str(card(sandbox, channel)["blocks"])  # nobody leads: the button stays
    # While the cause lasts, a press records one more take, set aside in its turn and told to its presser.
    await move_clock(sandbox, advance_seconds=6)
    assert f"Erin Walsh is now commander of #{number}" in await take(sandbox, ERIN, channel)
    await settle(sandbox)
    [erin_dm] = direct_messages(sandbox, slack_user(sandbox, ERIN))
    assert f"Your Take command of #{number} could not be applied" in erin_dm, erin_dm
    assert len(rows(sandbox.bot.settings.db_path, "SELECT seq FROM inbox WHERE event_id LIKE ? AND state='failed'",
                    (take_command_id(incident["id"]) + "%",))) == 2
    # The cause fixed, the button fills the seat again, still a compare-and-set: of two presses at the same moment
    # (the worker held back, so neither is applied before the other is recorded), the first takes it and the other is
    # told who.
    sql(sandbox, "DROP TRIGGER refuse_roles")
    assert await sandbox.bot.store.record_delivery(
        source="slack", delivery_id=HELD, event_id=HELD, event_type="role.renamed", incident_id=incident["id"],
        occurred_at=sandbox.sandbox.clock.now().isoformat(), body='{"type": "role.renamed"}')
    await move_clock(sandbox, advance_seconds=6)
    assert f"Asha Patel is now commander of #{number}" in await take(sandbox, ASHA, channel)
    told = await take(sandbox, ERIN, channel)
    assert f"Asha Patel took command of #{number} just before you" in told, told
    sql(sandbox, "UPDATE inbox SET state='applied' WHERE event_id=?", (HELD,))
    await settle(sandbox)
    assert f"<@{slack_user(sandbox, ASHA)}>" in str(card(sandbox, channel)["blocks"])
    assert TAKE_COMMAND not in str(card(sandbox, channel)["blocks"])
    public = [html.unescape(m["text"]) for m in state(sandbox)["slack"]["messages"]
              if m["channel"] == channel["id"] and m["ephemeral_to"] is None]
    assert sum("is now commander" in line for line in public) == 1, public
    assert len(direct_messages(sandbox, slack_user(sandbox, ASHA))) == 1  # told once, of the take set aside


async def test_take_commands_set_aside_in_a_row_stop_being_recorded_after_eleven(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    number = incident["incident_number"]
    sql(sandbox, "CREATE TRIGGER refuse_roles BEFORE INSERT ON timeline WHEN NEW.kind = 'role_assigned'"
                 " BEGIN SELECT RAISE(ABORT, 'role lines are refused'); END")
    for _ in range(11):  # the cause lasts: each press records one more take, set aside in its turn
        await move_clock(sandbox, advance_seconds=6)
        assert f"Asha Patel is now commander of #{number}" in await take(sandbox, ASHA, channel)
        await settle(sandbox)
    await move_clock(sandbox, advance_seconds=6)
    told = await take(sandbox, ASHA, channel)
    assert f"The last 11 Take commands of #{number} could not be applied" in told, told
    assert "/incident role commander me" in told, told
    await settle(sandbox)
    assert len(rows(sandbox.bot.settings.db_path, "SELECT seq FROM inbox WHERE event_id LIKE ?",
                    (take_command_id(incident["id"]) + "%",))) == 11
