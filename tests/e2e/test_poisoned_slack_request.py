"""One Slack request Slack never takes, while Slack takes every other call: an SRE expects it given up after its
attempts, the operators told, and its incident's other lines to go on — not the incident's Slack queue (its card, its
timeline, its status updates) held for the hour a Slack outage is outlasted (bot/services/retries.py,
`slack_outage_seconds`). A real outage, Slack failing every call, is still outlasted
(tests/e2e/test_scheduled_jobs_outlast_outages.py, tests/services/test_dispatcher_outlasting.py)."""

from __future__ import annotations

from dataclasses import replace

from bot.services.retries import PRODUCTION
from sandbox.faults import Fault
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
POISON = "Rolling back payments-api to 4.2.0"


async def test_a_line_slack_refuses_every_time_while_it_takes_all_else_is_given_up_and_its_queue_goes_on(
        start_sandbox: StartSandbox) -> None:
    """Slack answers 500 to one timeline line's post, every time, and takes every other call. The line was retried
    for the hour Slack's outages are outlasted, as if Slack were down: its incident's later lines (the
    acknowledgement) waited behind it all that hour and the operators heard nothing — though other incidents' lines
    went out all along."""
    running = await start_sandbox(retry_policy=OUTLASTING)
    poisoned = await trigger(running, title="Checkout returns 500s")
    other = await trigger(running, title="Basket totals wrong")
    running.sandbox.faults.add(Fault("slack", "chat.postMessage", status=500, times=1_000_000,
                                     with_field="text", with_text=POISON))
    await note_unsettled(running, poisoned["id"], POISON)
    await note_unsettled(running, poisoned["id"], "Rollback done, watching error rates")
    # Slack takes the other incident's lines meanwhile: it is answering, not down.
    for n in range(3):
        await note_unsettled(running, other["id"], f"Basket service restarted ({n + 1})")

    def outcome() -> str | None:
        found = rows(running.bot.settings.db_path, "SELECT state FROM outbox WHERE kind='post_timeline_entry' AND "
                     "last_error LIKE '%500%'")
        return str(found[0]["state"]) if found else None

    await eventually(lambda: outcome() == "dead", within=20)
    [channel] = [c for c in incident_channels(running) if "checkout" in c["name"]]
    await eventually(lambda: any("Rollback done" in m["text"] for m in messages(running, channel["id"])))
    ops = channel_id(running, "paved-road-ops")
    await eventually(lambda: any("post timeline entry" in m["text"] and "no outage" in m["text"]
                                 for m in state(running)["slack"]["messages"] if m["channel"] == ops))
    await act(running, other["id"], "acknowledge", user=BEN)  # the bot settles: nothing left held
