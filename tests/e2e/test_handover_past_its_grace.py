"""A handover that cannot go out within two hours of its shift change — claimed late (the bot was down over the
boundary), then held up by Slack — goes out as a short note saying it was not posted in time, not as a full post of
who handed over to whom hours ago. The README promises a missed handover is posted up to 2 hours after its boundary
and skipped after that; a late claim retried through its own two hours used to post the stale handover up to about
four hours after the shift change."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import handovers_in, move_clock, settle, slack_user
from tests.helpers import StartSandbox

DEV, CHLOE = "dev.sharma@example.com", "chloe.martin@example.com"
# Slow retries: the post is still being retried, not given up on, when Slack takes posts again.
PATIENT = RetryPolicy(max_attempts=50, base_seconds=30, max_seconds=30)


async def test_a_handover_held_up_past_two_hours_after_its_shift_change_is_a_short_note(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 20, tzinfo=UTC), retry_policy=PATIENT)
    noted = "watch the refunds queue"
    await running.bot.handovers.leave_note("payments", "dev.sharma@example.com", noted)
    running.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=503,
                                     until=datetime(2026, 11, 27, 19, 50, tzinfo=UTC).timestamp()))
    # The bot "was down" over 17:30: its check at 19:25 claims the handover, late; Slack refuses it until 19:50.
    await move_clock(running, to="2026-11-27T19:25:00+00:00")
    assert handovers_in(running, "team-payments") == []
    await move_clock(running, to="2026-11-27T19:55:00+00:00")
    await settle(running)
    [post] = handovers_in(running, "team-payments")
    dev, chloe = (f"<@{slack_user(running, email)}>" for email in (DEV, CHLOE))
    assert f"{dev} → {chloe}" not in post, post
    assert post.splitlines()[0] == "*Handover: Payments — not posted (late by 2h 25m)*", post
    assert "Fri 27 Nov 17:30 (Europe/London)" in post and "/incident oncall payments" in post, post
    assert noted not in post  # the note waits for the next handover, which shows it
    await move_clock(running, to="2026-11-30T09:00:05+00:00")
    await settle(running)
    assert noted in handovers_in(running, "team-payments")[-1]


async def test_a_late_handover_within_two_hours_is_still_posted_in_full_marked_late(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 20, tzinfo=UTC), retry_policy=PATIENT)
    await move_clock(running, to="2026-11-27T19:25:00+00:00")
    await settle(running)
    [post] = handovers_in(running, "team-payments")
    dev, chloe = (f"<@{slack_user(running, email)}>" for email in (DEV, CHLOE))
    assert post.splitlines()[0] == f"*Handover: Payments — {dev} → {chloe}* (late)", post
