"""A form submitted while PagerDuty is slow, through the emulators: Slack gets its answer within its three seconds
however long the check before acting takes (who the person is in PagerDuty, held here), the form closes, and the
check is finished after. Allowed, the action is then done, once; refused, the person is told privately why, with
what they typed in the form quoted back so that none of it is lost.

The check's PagerDuty call is held by a latency fault until the test releases it: that Slack had the bot's answer
while the call was still held is an order of events, not a timing."""

from __future__ import annotations

import html
from typing import Any

from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import as_user, eventually, incident_channels, settle, slack_user, state, trigger
from tests.helpers import StartSandbox

ASHA, DEV = "asha.patel@example.com", "dev.sharma@example.com"
# Longer than any check may take before the bot must answer Slack, shorter than the bot's PagerDuty timeout (10 s):
# the test releases the held call long before it would end by itself.
HELD_MS = 8000
# What an engineer writes at 3 a.m.: several lines, and characters Slack's text must escape.
NOTE = "Failed over to db-2 <replica> & restarted the basket pods\nWatching error rates for 10 minutes"


async def opened_form(running: RunningSandbox, command: str, user: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A triggered incident, and the form `/incident <command>` opened in its channel for `user`."""
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    channel = next(c for c in incident_channels(running) if c["name"].startswith(f"inc-{incident['incident_number']}-"))
    answer = await as_user(running, "command", user=user, channel=channel["id"], text=command)
    await settle(running)
    [view] = answer["views_opened"]
    return incident, view


async def submitted_while_pagerduty_is_held(running: RunningSandbox, user: str, view: dict[str, Any],
                                            values: dict[str, Any]) -> dict[str, Any]:
    """Submit the form while PagerDuty holds the look-up of who the person is; check that Slack had the bot's answer
    (the form closed, nothing shown in it) while that call was still held, then let PagerDuty answer."""
    faults = running.sandbox.faults
    # The App Homes the incident's channel refreshes look people up in PagerDuty too: done first, so that the one
    # call held below is the form's check.
    await eventually(lambda: running.bot.home.publishing == 0)
    held = Fault("pagerduty", "/users", times=0, latency_ms=HELD_MS)
    faults.add(held)
    try:
        submitted = await as_user(running, "view_submission", user=user, view_id=view["id"], values=values)
        assert faults.held["pagerduty"] == 1, "PagerDuty answered before Slack had the bot's answer"
        # Told at once that it is under way (not left guessing, and sending another form with other words).
        await eventually(lambda: any(text.startswith("⏳ ") for text in told(running, user)))
        assert faults.held["pagerduty"] == 1, "told only once PagerDuty had answered"
    finally:
        faults.rules.remove(held)
        faults.release_held()
    assert (submitted["status"], submitted.get("error")) == (200, None), submitted
    assert submitted["view_outcome"] == "closed" and not submitted["view"]["errors"]
    return submitted


def pd_incident(running: RunningSandbox, incident_id: str) -> dict[str, Any]:
    return next(i for i in state(running)["pagerduty"]["incidents"] if i["id"] == incident_id)


def pd_user(running: RunningSandbox, email: str) -> str:
    return str(next(u["id"] for u in state(running)["pagerduty"]["users"] if u["email"] == email))


def told(running: RunningSandbox, email: str) -> list[str]:
    """What the person was told privately: only to them in the incident's channel, or directly when they are not in
    it (Slack's escapes undone, as they read it)."""
    who, slack = slack_user(running, email), state(running)["slack"]
    direct = {c["id"] for c in slack["channels"] if c.get("is_im") and who in c["members"]}
    return [html.unescape(m["text"]) for m in slack["messages"] if m["ephemeral_to"] == who or m["channel"] in direct]


async def test_a_form_checked_after_slacks_deadline_closes_at_once_and_is_acted_on_once(
        sandbox: RunningSandbox) -> None:
    incident, view = await opened_form(sandbox, "resolve", ASHA)
    await submitted_while_pagerduty_is_held(sandbox, ASHA, view, {"resolution": {"text": NOTE}})
    await eventually(lambda: pd_incident(sandbox, incident["id"])["status"] == "resolved")
    await eventually(lambda: any("Resolved #" in text for text in told(sandbox, ASHA)))
    await settle(sandbox)
    assert pd_incident(sandbox, incident["id"])["resolved_by"] == pd_user(sandbox, ASHA)
    pagerduty = state(sandbox)["pagerduty"]
    assert [n["content"] for n in pagerduty["notes"] if n["incident_id"] == incident["id"]] == [f"Resolution: {NOTE}"]
    assert len([e for e in pagerduty["log_entries"]
                if e["incident_id"] == incident["id"] and e["type"] == "resolve_log_entry"]) == 1
    assert [text for text in told(sandbox, ASHA) if "⚠️" in text] == []


async def test_a_form_refused_after_slacks_deadline_is_told_privately_with_what_was_typed(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    restricted = catalogue.model_copy(update={"permissions": catalogue.permissions.model_copy(
        update={"resolve": "responders"})})
    running = await start_sandbox(restricted)
    incident, view = await opened_form(running, "resolve", DEV)  # Dev is neither assigned nor an incident manager
    await submitted_while_pagerduty_is_held(running, DEV, view, {"resolution": {"text": NOTE}})
    await eventually(lambda: any("may resolve it" in text for text in told(running, DEV)))
    [refusal] = [text for text in told(running, DEV) if "may resolve it" in text]
    assert f"Only #{incident['incident_number']}'s responders and the incident managers may resolve it" in refusal
    assert NOTE in refusal, refusal  # every line of it, as typed
    await settle(running)
    found = pd_incident(running, incident["id"])
    assert found["status"] == "triggered" and found["resolved_by"] is None
    assert [n for n in state(running)["pagerduty"]["notes"] if n["incident_id"] == incident["id"]] == []


async def test_an_update_form_refused_after_slacks_deadline_keeps_both_parts_typed(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    restricted = catalogue.model_copy(update={"permissions": catalogue.permissions.model_copy(
        update={"update": "responders"})})
    running = await start_sandbox(restricted)
    incident, view = await opened_form(running, "update", DEV)
    what, impact = "Rolling back the 10:02 deploy <v4.2.1>", "1 in 5 card payments fail & retries pile up"
    await submitted_while_pagerduty_is_held(running, DEV, view, {
        "update_what": {"text": what}, "update_impact": {"text": impact}, "update_next": {"choice": "30"}})
    await eventually(lambda: any("may post its status updates" in text for text in told(running, DEV)))
    [refusal] = [text for text in told(running, DEV) if "may post its status updates" in text]
    assert what in refusal and impact in refusal, refusal
    await settle(running)
    assert [u for u in state(running)["pagerduty"]["status_updates"] if u["incident_id"] == incident["id"]] == []
