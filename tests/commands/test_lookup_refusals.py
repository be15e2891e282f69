"""A Slack call the workspace's access rules refuse (team_access_not_granted, ekm_access_denied, restricted_action)
is not a channel the bot cannot post in: a look-up of who typed the command (users.info) refused so was answered
"I can't post in that channel … Invite me there" — in the incident channel the bot had just posted in, for a call
that posts nothing (found in review of session 23's one set of channel codes; failed before its fix)."""

from __future__ import annotations

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import command
from tests.e2e.sandbox_helpers import incident_channels, trigger


async def test_a_look_up_refused_by_the_workspaces_access_rules_is_not_answered_as_a_channel_to_invite_the_bot_to(
        sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=200, error="team_access_not_granted", times=10))
    said = "\n".join(await command(sandbox, "ack", user="erin.walsh@example.com", channel=channel["id"]))
    assert "team_access_not_granted" in said, said
    assert "can't post in that channel" not in said and "/invite" not in said, said
