"""Naming the incident outside its channel, when words follow: `/incident update 500 errors halved` typed in a team
channel was an update "errors halved" for incident #500. Outside an incident channel a number followed by words is
ambiguous — the incident, or the start of what was written — so only `#500` (or PagerDuty's id) names the incident
there; a bare number is answered with the rule, nothing sent. End to end through the emulators."""

from __future__ import annotations

import html
from typing import Any

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, channel_id, replies, settle, state, trigger

ERIN = "erin.walsh@example.com"


async def typed(running: RunningSandbox, text: str) -> str:
    answer = await as_user(running, "command", user=ERIN, channel=channel_id(running, "team-basket"), text=text)
    await settle(running)
    return html.unescape(replies(answer))


def pd_updates(running: RunningSandbox, incident: dict[str, Any]) -> list[str]:
    return [u["message"] for u in state(running)["pagerduty"]["status_updates"] if u["incident_id"] == incident["id"]]


def pd_notes(running: RunningSandbox, incident: dict[str, Any]) -> list[str]:
    return [n["content"] for n in state(running)["pagerduty"]["notes"] if n["incident_id"] == incident["id"]]


async def test_a_number_followed_by_words_outside_a_channel_is_not_taken_for_the_incident(
        sandbox: RunningSandbox) -> None:
    first = await trigger(sandbox, "Checkout returns 500s", "PBASKET")
    second = await trigger(sandbox, "Basket totals wrong", "PBASKET")
    assert (first["incident_number"], second["incident_number"]) == (1, 2)
    told = await typed(sandbox, "update 2 of 3 regions recovered")
    assert pd_updates(sandbox, second) == [] and pd_updates(sandbox, first) == [], told
    assert "nothing was sent" in told and "`/incident update #2 …`" in told, told
    assert "2 of 3 regions recovered" in told, told  # quoted back: Slack keeps no command once sent
    told = await typed(sandbox, "note 1 pod restarted, the other is still crash-looping")
    assert not any("crash-looping" in note for note in pd_notes(sandbox, first)), told
    assert "`/incident note #1 …`" in told, told
    # `#` (or the incident's id) names it, and the words after it are all the update, a leading number too.
    told = await typed(sandbox, "update #2 2 of 3 regions recovered")
    assert "on its way" in told, told
    assert [m.splitlines()[0] for m in pd_updates(sandbox, second)] == ["2 of 3 regions recovered"]
    told = await typed(sandbox, f"update {first['id']} 500 errors halved")
    assert [m.splitlines()[0] for m in pd_updates(sandbox, first)] == ["500 errors halved"], told
    # A number alone, or before a role or a priority, is the incident: nothing else it could mean.
    assert "is now commander of #2" in await typed(sandbox, "role 2 commander me")
