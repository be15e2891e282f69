"""A resolve whose note PagerDuty then refuses, through the sandbox: the answer says the incident was resolved and
what to do about the note, and what it advises fits why the note failed (asking to try `/incident note` "when
PagerDuty answers again" only when PagerDuty was not answering or was rate-limiting us)."""

from __future__ import annotations

import pytest

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    answers,
    as_user,
    code_blocks_shown,
    eventually,
    incident_channels,
    settle,
    state,
    trigger,
)

ASHA = "asha.patel@example.com"
NOTE = "rolled back <v4.2>"


async def resolved_with_the_note_failing(running: RunningSandbox, status: int, note: str = NOTE) -> str:
    """Resolve with a note while PagerDuty answers the note (only it: POST …/notes) with `status`; what the
    person was told."""
    incident = await trigger(running)
    prefix = f"inc-{incident['incident_number']}-"
    channel = next(c for c in incident_channels(running) if c["name"].startswith(prefix))
    running.sandbox.faults.add(Fault("pagerduty", "POST /incidents", status=status, times=2, retry_after=0))
    answer = await as_user(running, "command", user=ASHA, channel=channel["id"], text=f"resolve {note}")
    # Read live: after a 429 the note is tried again after PagerDuty's pause, later than the report of the command.
    await eventually(lambda: "Resolved" in answers(running, answer), within=30)
    await settle(running)
    running.sandbox.faults.clear()
    found = next(i for i in state(running)["pagerduty"]["incidents"] if i["id"] == incident["id"])
    assert found["status"] == "resolved"
    # The note not added is quoted back whole (after a form nothing else holds it), escaped for Slack, in one block.
    told = answers(running, answer)
    assert code_blocks_shown(told) == [note], told
    if note == NOTE:
        assert "Your note, to add again:\n```\nrolled back &lt;v4.2&gt;\n```" in told
    return told


@pytest.mark.parametrize("status", [403, 400])
async def test_a_note_refused_for_good_is_not_to_be_tried_again_once_pagerduty_answers(
        sandbox: RunningSandbox, status: int) -> None:
    text = await resolved_with_the_note_failing(sandbox, status)
    assert text.startswith("✅ Resolved #")
    assert "nothing was changed" not in text
    assert "when PagerDuty answers again" not in text, text  # it did answer: it refused


@pytest.mark.parametrize("status", [503, 429])
async def test_a_note_pagerduty_could_not_take_now_is_to_be_added_later(sandbox: RunningSandbox,
                                                                         status: int) -> None:
    text = await resolved_with_the_note_failing(sandbox, status)
    assert "nothing was changed" not in text
    assert "/incident note" in text and "when PagerDuty answers again" in text, text


async def test_a_note_with_a_code_fence_is_quoted_back_whole_in_one_block(sandbox: RunningSandbox) -> None:
    # Slack ends a code block at the first ``` in it: a note with a pasted command in its fence was quoted back in
    # pieces, the command outside any block and its * taken as bold, not as the person had written it.
    note = "rolled back with ```kubectl rollout undo deploy/basket && echo *done*``` then watched 5xx_rate"
    text = await resolved_with_the_note_failing(sandbox, 400, note)
    assert text.startswith("✅ Resolved #")
