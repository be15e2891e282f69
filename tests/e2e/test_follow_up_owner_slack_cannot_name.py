"""A follow-up whose owner Slack does not name — a mention of a user Slack does not know (gone from the workspace,
another workspace's), or a name lookup Slack failed at that moment — end to end through the sandbox: the review, the
timeline line (the channel's and the ticket's) and `/incident followups` never show a bare Slack user id. A name
Slack gives later (its lookup failed only then) is in the review drafted after."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, incident_channels, replies, slack_user, state, trigger
from tests.e2e.servicenow_helpers import bot_notes, note_lines, settle_all, ticket_for

BEN, CHLOE = "ben.okafor@example.com", "chloe.martin@example.com"
UNKNOWN = "U0ABC123"
# A Slack user id standing alone: not inside a mention's markup, nor explained.
BARE_ID = re.compile(r"(?<![<@(\w])U0ABC123\b(?!\))")


async def said(running: RunningSandbox, channel: str, text: str) -> str:
    answer = await as_user(running, "command", user=BEN, channel=channel, text=text)
    await settle_all(running)
    return replies(answer)


async def opened(running: RunningSandbox) -> tuple[dict[str, Any], str]:
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    await settle_all(running)
    [channel] = incident_channels(running)
    return incident, str(channel["name"])


async def review_document(running: RunningSandbox, channel: str) -> str:
    await said(running, channel, "review")
    files = [f for f in state(running)["slack"]["files"] if str(f["name"]).startswith("review-incident-")]
    async with aiohttp.ClientSession() as session, session.get(
            f"{running.url}/sandbox/slack/files/{files[-1]['id']}") as response:
        return await response.text()


async def test_an_owner_slack_does_not_know_is_never_shown_as_a_bare_id(sandbox: RunningSandbox) -> None:
    incident, channel = await opened(sandbox)
    answer = await said(sandbox, channel, f"followup Add an alert on checkout 5xx rate <@{UNKNOWN}>")
    assert "Follow-up recorded" in answer
    document = await review_document(sandbox, channel)
    [line] = [li for li in document.splitlines() if li.startswith("- [ ] #1 Add an alert on checkout 5xx rate")]
    assert "could not name" in line, line
    assert not BARE_ID.search(document), document
    timeline = await said(sandbox, channel, "timeline")
    assert not BARE_ID.search(timeline), timeline
    listed = await said(sandbox, channel, "followups")
    assert not BARE_ID.search(listed), listed
    await sandbox.bot.flush_work_notes()
    await settle_all(sandbox)
    notes = note_lines(bot_notes(ticket_for(sandbox, incident["id"])))
    assert not [n for n in notes if BARE_ID.search(n)], notes


async def test_an_owner_slack_failed_to_name_then_is_named_in_the_review(sandbox: RunningSandbox) -> None:
    _, channel = await opened(sandbox)
    chloe = slack_user(sandbox, CHLOE)
    sandbox.sandbox.faults.add(Fault("slack", "users.info", status=500, times=50))
    await said(sandbox, channel, f"followup Add an alert on checkout 5xx rate <@{chloe}>")
    sandbox.sandbox.faults.clear()
    document = await review_document(sandbox, channel)
    assert "Add an alert on checkout 5xx rate — owner: Chloe Martin" in document, document
