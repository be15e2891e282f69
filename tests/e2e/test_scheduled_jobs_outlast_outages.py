"""Review of the scheduled jobs (handovers, reminders, work notes, archiving, retention) as an SRE running the bot for
many teams sees them: every shift gets exactly one handover post, on time, with true names; nothing scheduled is lost
or doubled — whatever Slack, PagerDuty, the clock or a restart do meanwhile."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.catalogue import Catalogue
from bot.services.retries import PRODUCTION
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    channel_id,
    incident_channels,
    move_clock,
    settle,
    slack_user,
    state,
    trigger,
)
from tests.helpers import StartSandbox

BEN, DEV, CHLOE = "ben.okafor@example.com", "dev.sharma@example.com", "chloe.martin@example.com"
# What `pavedroad serve` runs with: no retry policy given, the bot's own (bot/services/retries.py, PRODUCTION).
PRODUCTION_RETRIES = PRODUCTION


def handovers_in(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    cid = channel_id(running, channel)
    return [m for m in state(running)["slack"]["messages"]
            if m["channel"] == cid and m["text"].startswith("*Handover") and not m["ephemeral_to"]]


async def test_a_handover_outlives_a_slack_outage_of_a_quarter_of_an_hour(start_sandbox: StartSandbox) -> None:
    """Slack refuses posts (503) from just before Friday's 17:30 shift change until 17:45 — an ordinary Slack incident.
    The handover is claimed on time and queued; it must go out once Slack takes posts again, within the two hours a
    missed handover is still posted in, marked "(late)". With the production retry policy the post used to die after
    its 8 attempts (about two minutes of backoff): the shift change was never handed over, and the operators were told
    to have the engineers hand over by hand."""
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC), retry_policy=PRODUCTION_RETRIES)
    running.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=503,
                                     until=datetime(2026, 11, 27, 17, 45, tzinfo=UTC).timestamp()))
    await move_clock(running, to="2026-11-27T17:30:05+00:00")
    for _ in range(50):  # 25 minutes, half a minute at a time: the dispatcher retries on the sandbox's clock
        running.sandbox.advance(30)
        await asyncio.sleep(0.05)
    await settle(running)
    posts = handovers_in(running, "team-payments")
    assert len(posts) == 1, "the 17:30 handover was never posted"
    dev, chloe = (f"<@{slack_user(running, email)}>" for email in (DEV, CHLOE))
    assert posts[0]["text"].splitlines()[0] == f"*Handover: Payments — {dev} → {chloe}* (late)"


async def slack_down(running: RunningSandbox, minutes: int) -> None:
    """Let `minutes` of the sandbox's time pass, half a minute at a time, as the scheduler would see them: the
    dispatcher retries what is due, and every ten minutes the archiving job runs."""
    for step in range(2 * minutes):
        running.sandbox.advance(30)
        if step % 20 == 19:
            await running.bot.archive_resolved_channels()
        await asyncio.sleep(0.05)


async def test_a_channel_due_to_be_archived_while_slack_has_an_outage_is_archived_once_slack_is_back(
        start_sandbox: StartSandbox) -> None:
    """A resolved incident's channel falls due for archiving (7 days after the resolve) while Slack answers 503 for a
    quarter of an hour. The job claims that resolution's archiving for a year and queues the effect once; the effect
    used to die after its 8 attempts (minutes), so no later run queued it again and the channel stayed open for good,
    however soon Slack came back."""
    running = await start_sandbox(retry_policy=PRODUCTION_RETRIES)
    incident = await trigger(running, title="Checkout returns 500s")
    [channel] = incident_channels(running)
    await act(running, incident["id"], "resolve", user=BEN)
    await settle(running)
    due = running.sandbox.clock.now() + timedelta(days=7, minutes=5)
    running.sandbox.faults.add(Fault(service="slack", method="conversations.archive", status=503,
                                     until=(due + timedelta(minutes=15)).timestamp()))
    await move_clock(running, to=due.isoformat())  # the job finds it due, and queues its archiving
    await slack_down(running, minutes=30)
    await settle(running)
    [after] = [c for c in incident_channels(running) if c["id"] == channel["id"]]
    assert after["is_archived"], "the channel was never archived"


async def test_every_rotas_nine_oclock_handover_goes_out_while_slack_is_slow_to_say_who_its_members_are(
        start_sandbox: StartSandbox) -> None:
    """Monday 09:00: all eleven rotas hand over at once (40 teams' would, at a large retailer). After the post, each
    handover refreshes the App Homes of the rota's members, who are looked up in Slack by email first
    (users.lookupByEmail, Tier 3: 50 a minute for the whole app; a freshly started bot knows nobody; someone not in
    Slack is asked again every time). Those lookups used to run inside the handover's effect, holding one of the Slack
    lane's 8 slots for them: eight rotas' lookups held up every other rota's handover (and every incident's channel)
    until Slack had answered them all. A Home refresh is best effort and said to run in the background: the handovers
    must all go out meanwhile."""
    running = await start_sandbox(at=datetime(2026, 11, 30, 8, 58, tzinfo=UTC))
    rotas = running.bot.catalogue.rotas
    for rota in rotas:  # who hands over to whom is known in Slack already: only the Homes' lookups are slow
        await running.bot.handovers.so_far(rota.id)
    running.sandbox.faults.add(Fault(service="slack", method="users.lookupByEmail", times=0, latency_ms=120_000))
    try:
        await move_clock(running, to="2026-11-30T09:00:05+00:00")
        posted = {m["channel"] for m in state(running)["slack"]["messages"]
                  if m["text"].startswith("*Handover") and not m["ephemeral_to"]}
        assert len(posted) == len({r.slack_channel for r in rotas}), \
            f"{len(posted)} rota channel(s) had their 09:00 handover while Slack was slow to look people up"
    finally:
        running.sandbox.faults.clear()


async def test_a_rota_whose_schedule_is_gone_from_pagerduty_says_so_rather_than_that_pagerduty_is_unreachable(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """The Payments schedule was replaced in PagerDuty (a new schedule, so a new id) and the catalogue still names the
    old one: PagerDuty answers 404 for it at every shift change. The post used to say, twice a day, that PagerDuty was
    unreachable and that it would be updated when PagerDuty answered — it never was: the follow-up died at once — and
    the operators were told to check PagerDuty's status and the API token, not the rota's schedule id."""
    gone = catalogue.model_copy(update={"rotas": [
        r.model_copy(update={"pagerduty_schedule_id": "PGONE01"}) if r.id == "payments" else r
        for r in catalogue.rotas]})
    running = await start_sandbox(gone, at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC))
    await move_clock(running, to="2026-11-27T17:30:05+00:00")
    await settle(running)
    [post] = handovers_in(running, "team-payments")
    assert "this post is updated when it answers" not in post["text"], post["text"]
    assert "PGONE01" in post["text"] and "pagerduty_schedule_id" in post["text"], post["text"]
    ops = channel_id(running, "paved-road-ops")
    [told] = [m["text"] for m in state(running)["slack"]["messages"] if m["channel"] == ops]
    assert "pagerduty_schedule_id" in told and "API token" not in told, told


async def test_a_clock_that_jumped_ahead_and_was_put_right_does_not_hold_back_the_shift_changes_in_between(
        start_sandbox: StartSandbox, database_url: str | None) -> None:
    """A host that boots with its hardware clock days ahead runs the bot until NTP steps the clock back: meanwhile it
    posts the handover of the boundary its clock reads (Monday 09:00, early). Once the clock is right again, Friday's
    17:30 shift change is due, and nobody has handed it over: it used to be held back (the ledger's latest boundary,
    Monday's, was taken as "posted since"), as was every other until Monday — silently."""
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 20, tzinfo=UTC), database_url=database_url)
    await move_clock(running, to="2026-11-30T09:00:05+00:00")  # the clock jumps ahead by three days
    assert len(handovers_in(running, "team-payments")) == 1
    await move_clock(running, to="2026-11-27T17:30:05+00:00")  # NTP puts it right, just after the shift change
    await settle(running)
    texts = [m["text"] for m in handovers_in(running, "team-payments")]
    assert len(texts) == 2, texts
    dev, chloe = (f"<@{slack_user(running, email)}>" for email in (DEV, CHLOE))
    assert texts[1].splitlines()[0] == f"*Handover: Payments — {dev} → {chloe}*"
    await move_clock(running, to="2026-11-27T17:40:00+00:00")
    await settle(running)
    assert len(handovers_in(running, "team-payments")) == 2  # and only once
