"""An incident without a channel of its own (its card in the team channel, its timeline in the card's thread): a
line Slack posted whose answer was lost (a 502 after Slack acted, a timeout) is found in the thread on the retry,
not posted a second time. A channel's history never lists a thread's replies (Slack's, and the emulator's), so the
retry must read the thread (conversations.replies)."""

from __future__ import annotations

from collections import Counter

from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, messages, state, trigger
from tests.helpers import StartSandbox


async def card_thread(running: RunningSandbox, channel_name: str) -> list[dict[str, object]]:
    team = next(c for c in state(running)["slack"]["channels"] if c["name"] == channel_name)
    posted = messages(running, team["id"])
    [card] = [m for m in posted if m["blocks"] and not m["thread_ts"]]
    return [m for m in posted if m["thread_ts"] == card["ts"] and m["ts"] != card["ts"]]


def markers(thread: list[dict[str, object]]) -> Counter[str]:
    return Counter(str(m["metadata"]["event_payload"]["marker"]) for m in thread  # type: ignore[index]
                   if m.get("metadata"))


async def test_a_timeline_line_whose_answer_was_lost_is_posted_once_in_the_cards_thread(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Found in review of session 21: the line was posted twice."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    # The next chat.postMessage (the "Acknowledged" line in the card's thread) is carried out, its answer lost.
    running.sandbox.faults.add(Fault("slack", "chat.postMessage", status=502, times=1, after=True))
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    running.sandbox.faults.clear()
    await running.bot.settle(30)
    thread = await card_thread(running, "team-basket")
    counted = markers(thread)
    assert counted and max(counted.values()) == 1, counted
    assert any("cknowledged" in str(m["text"]) for m in thread)
