"""The Take command's record id is one per incident (bot/domain/coordination.py `take_command_id`): that holds only
because the commander's seat, once filled, is never empty again. End to end through the emulators: the seat handed
on with `/incident role commander`, the incident resolved and reopened — the card never offers the seat again, and
a Take command pressed on an offer that stays on screen (never redrawn) records nothing and unseats nobody."""

from __future__ import annotations

import html
from typing import Any

from bot.domain.coordination import take_command_id
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    as_user,
    buttons,
    card,
    command,
    messages,
    move_clock,
    opened,
    replies,
    settle,
    slack_user,
)
from tests.helpers import rows

ASHA, ERIN, BEN = "asha.patel@example.com", "erin.walsh@example.com", "ben.okafor@example.com"
TAKE_COMMAND = "incident_take_command"


def take_buttons(message: dict[str, Any]) -> int:
    accessories = [b["accessory"] for b in message["blocks"] if isinstance(b.get("accessory"), dict)]
    return buttons(message).count(TAKE_COMMAND) + sum(1 for a in accessories if a.get("action_id") == TAKE_COMMAND)


async def test_the_seat_once_filled_is_never_offered_again_and_a_stale_take_unseats_nobody(
        sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    number = incident["incident_number"]
    await command(sandbox, "page-im need a decision on the rollback", channel["id"])
    [offer] = [m for m in messages(sandbox, channel["id"])
               if "you were paged as incident manager" in html.unescape(m["text"])]
    assert take_buttons(card(sandbox, channel)) == 1  # nobody leads yet
    took = await as_user(sandbox, "action", user=ASHA, channel=channel["id"], message_ts=card(sandbox, channel)["ts"],
                         action_id=TAKE_COMMAND)
    await settle(sandbox)
    assert f"Asha Patel is now commander of #{number}" in html.unescape(replies(took))
    # Handed on: the seat goes from Asha to Erin, never through empty.
    assert "is now commander" in replies(await command(sandbox, f"role commander <@{slack_user(sandbox, ERIN)}>",
                                                       channel["id"], user=ASHA))
    await act(sandbox, incident["id"], "resolve", user=ASHA)
    pd = sandbox.sandbox.pagerduty
    reopened = dict(pd.shapes.webhook_incident(pd.account.incident(incident["id"])), status="triggered")
    pd.emit_event("incident.reopened", incident["id"], user_email=ASHA, data=reopened)
    await settle(sandbox)
    shown = card(sandbox, channel)
    assert "Reopened" in "\n".join(m["text"] for m in messages(sandbox, channel["id"]))
    assert take_buttons(shown) == 0 and f"<@{slack_user(sandbox, ERIN)}>" in str(shown["blocks"])
    # The offer is never redrawn: Ben and Asha press its Take command after the reopen, a minute on.
    await move_clock(sandbox, advance_seconds=60)
    for who in (BEN, ASHA):
        answer = await as_user(sandbox, "action", user=who, channel=channel["id"], message_ts=offer["ts"],
                               action_id=TAKE_COMMAND)
        await settle(sandbox)
        told = html.unescape(replies(answer))
        assert f"Erin Walsh already leads #{number} as commander" in told and "is now commander" not in told, told
    assert f"<@{slack_user(sandbox, ERIN)}>" in str(card(sandbox, channel)["blocks"])
    # One take recorded in the incident's life, the first; the stale ones recorded nothing.
    takes = rows(sandbox.bot.settings.db_path, "SELECT state FROM inbox WHERE event_id=?",
                 (take_command_id(incident["id"]),))
    assert [t["state"] for t in takes] == ["applied"], takes
    public = [html.unescape(m["text"]) for m in messages(sandbox, channel["id"]) if m["ephemeral_to"] is None]
    assert sum("took over as commander" in line for line in public) == 1, public  # Erin from Asha, asked for
