"""A click on a button no listener knows — from a card an older version drew, since changed — is acknowledged and
answered that it does nothing now. Unanswered, Bolt's 404 made Slack show the person an error on the button, with no
word of why. Found by a newcomer (session 21)."""

from __future__ import annotations

from sandbox.world import RunningSandbox
from tests.commands.slack_requests import click
from tests.e2e.sandbox_helpers import card, incident_channels, trigger


async def test_an_older_cards_button_is_answered_not_an_error(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    message = card(sandbox, channel)
    answers = await click(sandbox, "incident_escalate_v0", incident["id"], message_ts=message["ts"],
                          channel=channel["id"])
    assert answers[-1].startswith("That button is from an older version of this message"), answers
    assert "/incident help" in answers[-1]
    stored = await sandbox.bot.store.incident(incident["id"])
    assert stored is not None and stored.status.value == "triggered"  # nothing done
