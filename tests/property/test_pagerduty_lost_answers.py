"""PagerDuty failing under a person's command, property-based: whatever PagerDuty answers (a refusal before acting,
or an answer lost after it acted: the emulator's `after` faults), and at whichever call of the command (the person's
look-up, the action, the note after a resolve), the answer is honest and nothing is done twice.

- Told "nothing was changed", PagerDuty holds nothing of the command; told it was done, it holds it.
- Never "something went wrong on our side": every PagerDuty failure is explained in words to act on.
- The same command sent again at once never doubles anything: after an answer that may or may not have been done it
  is taken as a repeat; after "nothing was changed" it acts, once.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    answers,
    as_user,
    eventually,
    incident_channels,
    settle,
    state,
    trigger,
)
from tests.property.loop_bridge import OnTheLoop, run_property

ASHA = "asha.patel@example.com"
COMMANDS = ("ack", "resolve Rolled back the deploy", "note Cache warmed by hand", "page-im Need a decision")
# What the command leaves in PagerDuty, per kind (the first word).
DONE_PHRASES = {"ack": "Acknowledged #", "resolve": "Resolved", "note": "Note added", "page-im": "Paged"}
ROUTES = ("*", "/incidents", "POST /incidents", "PUT /incidents", "GET /users")
faults = st.one_of(
    st.builds(lambda route, status, after: Fault("pagerduty", route, status=status, times=1, after=after),
              st.sampled_from(ROUTES), st.sampled_from([500, 502, 504]), st.booleans()),
    st.builds(lambda route, status: Fault("pagerduty", route, status=status, times=1, retry_after=0),
              st.sampled_from(ROUTES), st.sampled_from([503, 429])))


def pagerduty(running: RunningSandbox) -> dict[str, Any]:
    found: dict[str, Any] = state(running)["pagerduty"]
    return found


def held(running: RunningSandbox, incident_id: str, command: str) -> int:
    """How many of what `command` makes PagerDuty hold the incident has: 0 (none of it), 1, or more (doubled)."""
    pd = pagerduty(running)
    incident = next(i for i in pd["incidents"] if i["id"] == incident_id)
    kind, _, text = command.partition(" ")
    notes = [n for n in pd["notes"] if n["incident_id"] == incident_id]
    if kind == "ack":
        return int(incident["status"] == "acknowledged")
    if kind == "resolve":
        return int(incident["status"] == "resolved") + sum(text in n["content"] for n in notes)
    if kind == "note":
        return sum(n["content"] == text for n in notes)
    return sum(r["incident_id"] == incident_id for r in pd["responder_requests"])


async def command(running: RunningSandbox, text: str, channel: str) -> str:
    """What the person was told: waited for, since an answer may come after a pause (PagerDuty's 429 is retried once
    after the pause it asks for, later than the sandbox's report of the command waits)."""
    answer = await as_user(running, "command", user=ASHA, channel=channel, text=text)

    def told() -> str:
        body = answer.get("body")
        at_once = str(body.get("text") or "") if isinstance(body, dict) else ""
        return "\n".join(part for part in (at_once, answers(running, answer)) if part)
    await eventually(lambda: told() != "", within=30)
    await settle(running)
    return told()


async def through_a_fault(running: RunningSandbox, fault: Fault, text: str) -> None:
    incident = await trigger(running, "Checkout returns 500s")
    prefix = f"inc-{incident['incident_number']}-"
    channel = next(c for c in incident_channels(running) if c["name"].startswith(prefix))["id"]
    complete = 2 if text.startswith("resolve") else 1  # resolved, and its note
    running.sandbox.faults.add(fault)
    try:
        first = await command(running, text, channel)
    finally:
        running.sandbox.faults.clear()
    done = held(running, incident["id"], text)

    assert "went wrong on our side" not in first, first
    assert done <= complete, (first, done)
    if done == 0:
        assert DONE_PHRASES[text.split()[0]] not in first, first
    else:
        assert "nothing was changed" not in first, first
    again = await command(running, text, channel)
    assert held(running, incident["id"], text) <= complete, (first, again)
    if "nothing was changed" in first:
        assert held(running, incident["id"], text) == complete, (first, again)
    if "may or may not" in first:
        assert "Already on it" in again, (first, again)
        assert held(running, incident["id"], text) == done, (first, again)


async def test_pagerduty_failing_under_a_command_is_told_honestly_and_never_doubles_it(
        sandbox: RunningSandbox) -> None:
    on_loop = OnTheLoop()

    # Each example is an incident and two commands through the sandbox (about a second).
    @settings(max_examples=int(os.environ.get("LOST_ANSWER_EXAMPLES", "15")))
    @given(fault=faults, text=st.sampled_from(COMMANDS))
    def prop(fault: Fault, text: str) -> None:
        on_loop.run(through_a_fault(sandbox, fault, text))

    await run_property(prop)
