"""Every refusal's advice is one the person can follow: the example names the command they typed (copying
`/incident ack 1234` from a refused `status` would acknowledge an incident), nobody is told to "do it in Slack
directly" when a Slack look-up failed, nor to "do it in PagerDuty directly" when they have no PagerDuty account, and a
channel the bot cannot post in says to invite it. Found by a newcomer's walk through the README (session 21)."""

from __future__ import annotations

import pytest

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.commands.slack_requests import command
from tests.e2e.sandbox_helpers import incident_channels, trigger


@pytest.mark.parametrize("subcommand", ["status", "resolve", "timeline", "review", "followups", "update"])
async def test_outside_an_incident_channel_the_example_is_the_command_typed(sandbox: RunningSandbox,
                                                                            subcommand: str) -> None:
    [answer] = await command(sandbox, subcommand)
    name = subcommand.split()[0]
    assert "This isn't an incident channel" in answer and f"`/incident {name} 1234`" in answer, answer
    if name != "ack":
        assert "/incident ack" not in answer


async def test_slack_not_answering_a_look_up_is_not_told_to_do_it_in_slack(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=503, times=10))
    answers = await command(sandbox, "ack", user="erin.walsh@example.com", channel=channel["id"])
    said = "\n".join(answers)
    assert "Slack is not answering right now" in said and "Try again in a minute" in said, said
    assert "in Slack directly" not in said


async def test_someone_without_a_pagerduty_account_is_not_told_to_use_pagerduty(sandbox: RunningSandbox) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    said = "\n".join(await command(sandbox, "ack", user="gary.lind@example.com", channel=channel["id"]))
    assert "There is no PagerDuty user with your Slack email" in said, said
    assert "ask a responder who has a PagerDuty account" in said and "PagerDuty directly" not in said


async def test_a_handover_post_where_the_bot_is_not_invited_says_to_invite_it(sandbox: RunningSandbox) -> None:
    sandbox.sandbox.faults.add(Fault("slack", "chat.postMessage", status=200, error="not_in_channel",
                                            times=10))
    said = "\n".join(await command(sandbox, "handover post", channel="team-payments"))
    assert "I can't post in that channel (`not_in_channel`)" in said and "/invite @pavedroad" in said, said


async def test_oncall_for_something_unknown_names_services_teams_and_rotas(sandbox: RunningSandbox) -> None:
    """`oncall` takes a team or a rota too; the refusal listed only services (all of them)."""
    [answer] = await command(sandbox, "oncall nosuch")
    assert "use a service, team or rota" in answer and "teams: `" in answer and "rotas: `" in answer, answer
    catalogue = sandbox.bot.catalogue
    if len(catalogue.services) > 8:
        assert f"and {len(catalogue.services) - 8} more" in answer
