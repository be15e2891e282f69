"""Slack down for posting messages while it still answers reads (conversations.history): an SRE expects the lines
waiting to go out once Slack posts again — an outage, not one request Slack refuses — though a line retried meanwhile
is found posted by its history read, done with Slack's answer. Only an answer to the call doing an effect's work (the
post) is evidence that Slack takes its kind (bot/ports/answers.py, bot/services/lane_answers.py). Slack failing posts in
one channel only while the other incidents' lines are posted is still one request's failure, given up after its
attempts (as one message is: tests/e2e/test_poisoned_slack_request.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.services.retries import PRODUCTION
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    channel_id,
    eventually,
    incident_channels,
    messages,
    note_unsettled,
    state,
    trigger,
)
from tests.helpers import StartSandbox, rows

BEN = "ben.okafor@example.com"
# The bot's own policy (an hour's Slack outage outlasted), its backoff scaled down to run in seconds.
OUTLASTING = replace(PRODUCTION, base_seconds=0.05, max_seconds=0.5)
FOUND = "Basket service restarted"
WAITING = "Rolling back payments-api to 4.2.0"


def last_seq(running: RunningSandbox) -> int:
    """The outbox's last effect so far (the incidents' openings, done)."""
    return int(rows(running.bot.settings.db_path, "SELECT coalesce(max(seq), 0) AS seq FROM outbox")[0]["seq"])


def lines(running: RunningSandbox, incident_id: str, after: int) -> list[dict[str, Any]]:
    """The incident's timeline lines queued after effect `after` (the notes')."""
    return rows(running.bot.settings.db_path, "SELECT state, attempts, last_error FROM outbox WHERE "
                "kind='post_timeline_entry' AND incident_id=? AND seq > ? ORDER BY seq", (incident_id, after))


def failed_once(running: RunningSandbox, incident_id: str, after: int) -> bool:
    return any(line["last_error"] for line in lines(running, incident_id, after))


def channel_of(running: RunningSandbox, word: str) -> str:
    [channel] = [c for c in incident_channels(running) if word in c["name"]]
    return str(channel["id"])


async def test_a_line_waiting_while_slack_posts_nothing_but_answers_its_history_reads_is_outlasted(
        start_sandbox: StartSandbox) -> None:
    """Slack fails every post (its reads answered). The other incident's line was posted, its answer lost; retried,
    its history read finds it: done, with Slack's answer to a read. Counted as Slack taking posts, the waiting line was
    judged one poisoned request and given up after its attempts — lost, though Slack was down for everyone's posts."""
    running = await start_sandbox(retry_policy=OUTLASTING)
    poisoned = await trigger(running, title="Checkout returns 500s")
    other = await trigger(running, title="Basket totals wrong")
    checkout, basket = channel_of(running, "checkout"), channel_of(running, "basket")
    after = last_seq(running)
    faults = running.sandbox.faults
    # The other incident's history read is slow (held 3 s): its retry finds its line after the waiting line has
    # begun failing, as a retry may at any time in an outage.
    faults.add(Fault("slack", "conversations.history", times=0, latency_ms=3000, with_field="channel",
                     with_text=basket))
    faults.add(Fault("slack", "chat.postMessage", after=True, with_field="text", with_text=FOUND))
    faults.add(Fault("slack", "chat.postMessage", times=1_000_000))  # Slack posts nothing
    await note_unsettled(running, other["id"], FOUND)
    await eventually(lambda: failed_once(running, other["id"], after))
    await note_unsettled(running, poisoned["id"], WAITING)

    await eventually(lambda: [line["state"] for line in lines(running, other["id"], after)] == ["done"], within=15)
    # Judged at its failures from now on, its attempts spent: two more (or given up).
    [waiting] = lines(running, poisoned["id"], after)
    judged_at = max(int(waiting["attempts"]), OUTLASTING.max_attempts) + 2

    def judged() -> bool:
        [waiting] = lines(running, poisoned["id"], after)
        return waiting["state"] == "dead" or int(waiting["attempts"]) >= judged_at

    await eventually(judged, within=15)
    [waiting] = lines(running, poisoned["id"], after)
    assert waiting["state"] == "pending", "an outage of posts was judged one poisoned request: the line given up"
    faults.clear()  # Slack posts again
    await eventually(lambda: any(WAITING in m["text"] for m in messages(running, checkout)), within=10)
    await act(running, other["id"], "acknowledge", user=BEN)  # the bot settles: nothing left held
    assert not rows(running.bot.settings.db_path, "SELECT seq FROM outbox WHERE state='dead'")


async def test_a_line_slack_fails_in_one_channel_while_it_posts_in_the_others_is_given_up(
        start_sandbox: StartSandbox) -> None:
    """Slack fails every post in one incident's channel (its history read there answered too) and posts the other
    incident's lines: one request's failure, not an outage, given up after its attempts and the operators told."""
    running = await start_sandbox(retry_policy=OUTLASTING)
    poisoned = await trigger(running, title="Checkout returns 500s")
    other = await trigger(running, title="Basket totals wrong")
    checkout = channel_of(running, "checkout")
    after = last_seq(running)
    running.sandbox.faults.add(Fault("slack", "chat.postMessage", times=1_000_000, with_field="channel",
                                     with_text=checkout))
    await note_unsettled(running, poisoned["id"], WAITING)
    await eventually(lambda: failed_once(running, poisoned["id"], after))
    for n in range(3):  # Slack posts the other incident's lines meanwhile
        await note_unsettled(running, other["id"], f"{FOUND} ({n + 1})")

    await eventually(lambda: [line["state"] for line in lines(running, poisoned["id"], after)] == ["dead"], within=20)
    ops = channel_id(running, "paved-road-ops")
    await eventually(lambda: any("post timeline entry" in m["text"] and "no outage" in m["text"]
                                 for m in state(running)["slack"]["messages"] if m["channel"] == ops))
