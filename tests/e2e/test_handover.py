"""On-call handovers in the sandbox, driven by its clock: one post per rota and shift boundary, naming who handed over
to whom (from PagerDuty's schedule, overrides included) with the shift's incidents and their figures; late within the
grace period, skipped after it; once across restarts; DST-safe; PagerDuty unreachable handled; notes and /incident."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.app.cli.main import reload_catalogue
from bot.catalogue import Catalogue
from bot.services.dispatcher import RetryPolicy
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.domain.handover_shift import incident
from tests.e2e.sandbox_helpers import (
    act,
    answers,
    as_user,
    channel_id,
    eventually,
    handovers_in,
    move_clock,
    settle,
    slack_user,
    state,
)
from tests.helpers import StartSandbox, rows

ASHA, BEN, CHLOE, DEV = ("asha.patel@example.com", "ben.okafor@example.com", "chloe.martin@example.com",
                         "dev.sharma@example.com")
FRIDAY_AFTERNOON = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # London is on GMT (UTC) in November

async def move_clock_and_settle(running: RunningSandbox, *, advance_seconds: float | None = None,
                                to: str | None = None) -> None:
    await move_clock(running, advance_seconds=advance_seconds, to=to)
    await settle(running)


def mention(running: RunningSandbox, email: str) -> str:
    return f"<@{slack_user(running, email)}>"


async def trigger_at(running: RunningSandbox, title: str, service_id: str) -> dict[str, Any]:
    incident = await running.sandbox.pagerduty.trigger(title=title, service_id=service_id)
    await settle(running)
    return incident


async def test_a_shift_boundary_posts_one_handover_naming_who_hands_over_with_the_shifts_incidents(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    fixed = await trigger_at(running, "Card payments failing", "PCHECKO")
    await move_clock_and_settle(running, advance_seconds=300)
    await act(running, fixed["id"], "acknowledge", user=DEV)
    await move_clock_and_settle(running, advance_seconds=1200)
    await act(running, fixed["id"], "resolve", user=DEV)
    await move_clock_and_settle(running, to="2026-11-27T17:00:00+00:00")
    still_open = await trigger_at(running, "Refunds slow", "PCHECKO")

    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")

    [post] = handovers_in(running, "team-payments")
    assert post.startswith(f"*Handover: Payments — {mention(running, DEV)} → {mention(running, CHLOE)}*")
    assert "(late)" not in post
    assert "Shift Fri 27 Nov 09:00 → Fri 27 Nov 17:30 (Europe/London)" in post
    assert "*Open now (1)*" in post and f"#{still_open['incident_number']} Refunds slow" in post
    refunds_channel = next(c["id"] for c in state(running)["slack"]["channels"]
                           if c["name"].startswith(f"inc-{still_open['incident_number']}-"))
    assert f"<#{refunds_channel}>" in post  # a link to the incident's channel
    assert "*During the shift (2)*" in post
    assert "acknowledged in 5m, resolved in 25m" in post
    assert "not acknowledged, still open" in post
    assert "*Pages out of hours (0)*" in post
    # The product-domain rota covers payments (and basket) out of hours: nobody before 17:30, Ben from then.
    [domain_post] = handovers_in(running, "retail-oncall")
    assert domain_post.startswith(f"*Handover: Retail nights — nobody → {mention(running, BEN)}*")
    # Basket has no out-of-hours on-call: no handover when its out-of-hours shift starts.
    assert handovers_in(running, "team-basket") == []

    await move_clock_and_settle(running, advance_seconds=60)
    await move_clock_and_settle(running, advance_seconds=3600)
    assert len(handovers_in(running, "team-payments")) == 1


async def test_a_handover_missed_while_down_is_posted_late_within_grace_and_skipped_after(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    await move_clock_and_settle(running, to="2026-11-27T17:55:00+00:00")  # the bot "was down" at 17:30
    [post] = handovers_in(running, "team-payments")
    assert post.splitlines()[0].endswith("(late)")
    await running.stop()

    monday = datetime(2026, 11, 30, 11, 31, tzinfo=UTC)  # 2.5 h after 09:00
    later = await start_sandbox(at=monday, db="other.db")
    await move_clock_and_settle(later, advance_seconds=60)
    assert handovers_in(later, "team-payments") == []


async def test_a_restart_in_the_handover_minute_does_not_post_twice(start_sandbox: StartSandbox,
                                                                    tmp_path: Path) -> None:
    first = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC))
    await move_clock_and_settle(first, advance_seconds=15)
    assert len(handovers_in(first, "team-payments")) == 1
    await first.stop()

    again = await start_sandbox(at=datetime(2026, 11, 27, 17, 30, 40, tzinfo=UTC))  # same store, fresh emulators
    await move_clock_and_settle(again, advance_seconds=5)
    await settle(again)
    assert handovers_in(again, "team-payments") == []
    posts = rows(again.bot.settings.db_path,
        "SELECT count(*) AS n FROM outbox WHERE kind='post_handover' AND payload LIKE '%payments:%'")
    assert posts[0]["n"] == 1


async def test_a_post_queued_before_a_crash_goes_out_once_after_restart(start_sandbox: StartSandbox) -> None:
    # Slow retries, so the post is still pending (not given up on) when the bot goes down.
    first = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC),
                        retry_policy=RetryPolicy(max_attempts=50, base_seconds=30, max_seconds=30))
    # Slack fails the post for a while: the handover is claimed and queued, not posted, when the bot goes down.
    first.sandbox.faults.add(_fault("slack", "chat.postMessage", status=500, times=1000))
    await move_clock(first, advance_seconds=15)
    retried = rows(first.bot.settings.db_path,
        "SELECT state FROM outbox WHERE kind='post_handover' AND payload LIKE '%payments:%'")
    assert [r["state"] for r in retried] == ["pending"]
    await first.stop()

    # Past the retry the first one planned.
    again = await start_sandbox(at=datetime(2026, 11, 27, 17, 31, 0, tzinfo=UTC))
    await settle(again)
    assert len(handovers_in(again, "team-payments")) == 1


async def test_pagerduty_unreachable_at_handover_time_posts_what_is_known_then_fills_in_the_names(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC))
    running.sandbox.faults.add(_fault("pagerduty", "/schedules/PSPAYMT", status=503, times=1))
    await move_clock_and_settle(running, advance_seconds=15)
    messages = [m for m in state(running)["slack"]["messages"] if m["channel"] == channel_id(running, "team-payments")
                and m["text"].startswith("*Handover")]
    assert len(messages) == 1
    # Filled in by the follow-up once PagerDuty answered (the fault was one call): the same message, edited.
    text = messages[0]["text"]
    assert text.startswith(f"*Handover: Payments — {mention(running, DEV)} → {mention(running, CHLOE)}*")
    assert messages[0].get("edited"), "the first version said PagerDuty was unreachable; it was edited in place"


async def test_pagerduty_down_for_longer_shows_what_is_missing(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC))
    running.sandbox.faults.add(_fault("pagerduty", "/schedules/PSPAYMT", status=503, times=1000))
    await move_clock(running, advance_seconds=15)
    await running.sandbox.pagerduty.drain_webhooks()
    with pytest.raises(TimeoutError):  # the follow-up keeps retrying PagerDuty
        await running.bot.settle(1)
    [post] = handovers_in(running, "team-payments")
    assert "(unknown: PagerDuty unreachable) → (unknown: PagerDuty unreachable)" in post
    assert "Who is on call could not be read from PagerDuty; this post is updated when it answers." in post
    follow_ups = rows(running.bot.settings.db_path,
        "SELECT state FROM outbox WHERE kind='complete_handover'")
    assert [f["state"] for f in follow_ups] == ["pending"]  # still trying, patiently


async def test_a_note_left_after_the_boundary_waits_for_the_next_handover(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC))
    running.sandbox.faults.add(_fault("pagerduty", "/schedules/PSPAYMT", status=503, times=1000))
    await move_clock(running, advance_seconds=15)
    answer = await as_user(running, "command", user=CHLOE, channel="team-payments", text="handover-note for monday")
    assert "Noted for the *Payments* handover at Mon 30 Nov 09:00" in _replies(answer)
    running.sandbox.faults.clear()  # PagerDuty is back: the follow-up fills in Friday's names
    await settle(running)
    [friday] = handovers_in(running, "team-payments")
    assert friday.startswith(f"*Handover: Payments — {mention(running, DEV)} → {mention(running, CHLOE)}*")
    assert "for monday" not in friday
    await move_clock_and_settle(running, to="2026-11-30T09:00:05+00:00")
    assert "for monday — chloe.martin" in handovers_in(running, "team-payments")[-1]


async def test_a_rota_without_out_of_hours_cover_hands_over_the_day_next_morning(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 11, 30, tzinfo=UTC))  # 09:00's handover is history by now
    incident = await trigger_at(running, "Basket totals wrong", "PBASKET")
    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")
    assert handovers_in(running, "team-basket") == []  # nobody takes over at 17:30
    answer = await as_user(running, "command", user=ASHA, channel="team-basket", text="handover-note check totals")
    assert "Noted for the *Basket (working hours)* handover at Mon 30 Nov 09:00" in _replies(answer)
    await move_clock_and_settle(running, to="2026-11-30T09:00:05+00:00")
    [monday] = handovers_in(running, "team-basket")
    # From Friday's day shift (Asha, until 17:30) to Monday's (Dev), with everything in between.
    assert monday.startswith(f"*Handover: Basket (working hours) — {mention(running, ASHA)} → "
                             f"{mention(running, DEV)}*")
    assert "Shift Fri 27 Nov 09:00 → Mon 30 Nov 09:00 (Europe/London)" in monday
    assert f"#{incident['incident_number']} Basket totals wrong" in monday
    assert "check totals — asha.patel" in monday


@pytest.mark.parametrize(("before", "due_at"), [
    # 01:30 does not exist on 29 March 2026 (01:00 GMT → 02:00 BST): the handover is at 02:00 BST = 01:00 UTC.
    ("2026-03-29T00:59:50+00:00", "Sun 29 Mar 02:00"),
    # 01:30 happens twice on 25 October 2026: the first (BST, 00:30 UTC) is the handover, the second is not.
    ("2026-10-25T00:29:50+00:00", "Sun 25 Oct 01:30"),
])
async def test_a_handover_time_on_a_daylight_saving_night_is_posted_once(
        start_sandbox: StartSandbox, catalogue: Catalogue, before: str, due_at: str) -> None:
    nightly = catalogue.model_copy(update={"rotas": [
        r.model_copy(update={"handovers": ["30 1 * * *"]}) for r in catalogue.rotas if r.id == "payments"]})
    running = await start_sandbox(at=datetime.fromisoformat(before), organisation=nightly)
    assert handovers_in(running, "team-payments") == []
    await move_clock_and_settle(running, advance_seconds=20)
    [post] = handovers_in(running, "team-payments")
    assert f"→ {due_at} (Europe/London)" in post.splitlines()[1]
    for _ in range(3):  # on through the rest of the night, past the repeated hour
        await move_clock_and_settle(running, advance_seconds=1800)
    assert len(handovers_in(running, "team-payments")) == 1


async def test_an_override_in_pagerduty_changes_who_takes_over(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 0, tzinfo=UTC))
    emulator = running.sandbox.pagerduty
    asha = emulator.account.user_by_email(ASHA)
    assert asha is not None
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/pagerduty/api/schedules/PSPAYMT/overrides",
            headers={"Authorization": f"Token token={running.sandbox.keys.pagerduty_api_token}",
                     "Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json"},
            json={"overrides": [{"start": "2026-11-27T17:30:00Z", "end": "2026-11-28T09:00:00Z",
                                 "user": {"id": asha.id, "type": "user_reference"}}]}) as response:
        assert response.status == 201, await response.text()
    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")
    [post] = handovers_in(running, "team-payments")
    assert post.startswith(f"*Handover: Payments — {mention(running, DEV)} → {mention(running, ASHA)}*")


@pytest.mark.parametrize(("at", "local"), [
    # Spring forward (29 March 2026): Monday's 09:00 London handover is 08:00 UTC.
    (datetime(2026, 3, 30, 7, 59, 50, tzinfo=UTC), "Mon 30 Mar 09:00"),
    # Fall back (25 October 2026): Monday's 09:00 is 09:00 UTC again — nothing at 08:00 UTC.
    (datetime(2026, 10, 26, 8, 59, 50, tzinfo=UTC), "Mon 26 Oct 09:00"),
])
async def test_daylight_saving_neither_skips_nor_doubles_a_handover(start_sandbox: StartSandbox, at: datetime,
                                                                    local: str) -> None:
    running = await start_sandbox(at=at.replace(hour=at.hour - 1))  # an hour before: nothing due
    assert handovers_in(running, "team-payments") == []
    await move_clock_and_settle(running, to=at.isoformat())
    assert handovers_in(running, "team-payments") == []
    await move_clock_and_settle(running, advance_seconds=20)
    [post] = handovers_in(running, "team-payments")
    assert f"→ {local} (Europe/London)" in post
    await move_clock_and_settle(running, advance_seconds=3600)
    assert len(handovers_in(running, "team-payments")) == 1


async def test_notes_left_for_the_next_handover_appear_once(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    answer = await as_user(running, "command", user=DEV, channel="team-payments",
                           text="handover-note watch the refunds queue, it backs up after 17:00")
    assert "Noted for the *Payments* handover at Fri 27 Nov 17:30" in _replies(answer)
    elsewhere = await as_user(running, "command", user=DEV, channel="incidents",
                              text="handover-note payments <b>restart</b> the worker & check")
    assert "2 note(s) waiting" in _replies(elsewhere)
    lost = await as_user(running, "command", user=DEV, channel="incidents", text="handover-note no rota named")
    assert "Which rota?" in _replies(lost)

    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")
    [post] = handovers_in(running, "team-payments")
    assert "*Notes (2)*" in post
    assert "watch the refunds queue, it backs up after 17:00 — dev.sharma" in post  # the Slack handle
    assert "&lt;b&gt;restart&lt;/b&gt; the worker &amp; check" in post  # as typed, not as markup
    await move_clock_and_settle(running, to="2026-11-30T09:00:05+00:00")
    monday = handovers_in(running, "team-payments")[-1]
    assert "*Notes (0)*" in monday


async def test_a_rota_named_on_a_line_of_its_own_takes_the_note(start_sandbox: StartSandbox) -> None:
    # Shift+Enter after the rota's name: the name ended at the space only, so "payments\nrestart…" named no rota
    # (from #incidents: "Which rota?"; from another rota's channel the note went to that rota instead).
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    answer = await as_user(running, "command", user=DEV, channel="incidents",
                           text="handover-note payments\nrestart the refunds worker")
    assert "Noted for the *Payments* handover" in _replies(answer), _replies(answer)
    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")
    [post] = handovers_in(running, "team-payments")
    assert "restart the refunds worker — dev.sharma" in post and "payments\nrestart" not in post


async def test_handover_on_demand_to_the_caller_or_the_channel(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    await as_user(running, "command", user=DEV, channel="team-payments", text="handover-note keep an eye on refunds")
    answer = await as_user(running, "command", user=DEV, channel="team-payments", text="handover")
    text = _replies(answer)
    assert text.startswith(f"*Handover so far: Payments — {mention(running, DEV)} → {mention(running, CHLOE)}*")
    assert "keep an eye on refunds" in text
    assert handovers_in(running, "team-payments") == []  # only the caller saw it

    posted = await as_user(running, "command", user=DEV, channel="incidents", text="handover payments post")
    assert "Posted the handover so far for *Payments* in #team-payments" in _replies(posted)
    assert len(handovers_in(running, "team-payments")) == 1
    # The on-demand post does not take the notes: the real handover still carries them.
    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")
    assert "keep an eye on refunds" in handovers_in(running, "team-payments")[-1]

    unknown = await as_user(running, "command", user=DEV, channel="incidents", text="handover nonsense")
    assert "I don't know the rota `nonsense`" in _replies(unknown)


async def test_the_handover_so_far_posted_by_one_person_is_linked_for_the_next_not_posted_again(
        start_sandbox: StartSandbox) -> None:
    # Keyed by who asked, a second person's `handover post` a few seconds later posted the same handover again.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    first = await as_user(running, "command", user=DEV, channel="team-payments", text="handover post")
    assert "Posted the handover so far for *Payments* in #team-payments" in _replies(first)
    [posted] = _so_far_in(running, "team-payments")
    await move_clock_and_settle(running, advance_seconds=5)
    second = await as_user(running, "command", user=CHLOE, channel="incidents", text="handover payments post")
    told = _replies(second)
    assert told.startswith("The handover so far for *Payments* was just posted in #team-payments"), told
    # A link to that post, as Slack's permalinks read.
    assert f"/archives/{posted['channel']}/p{posted['ts'].replace('.', '')}|" in told, told
    assert len(_so_far_in(running, "team-payments")) == 1
    # Another shift is another handover: posted again (the scheduled handover at 17:30 too).
    await move_clock_and_settle(running, to="2026-11-27T17:30:05+00:00")
    third = await as_user(running, "command", user=CHLOE, channel="incidents", text="handover payments post")
    assert "Posted the handover so far for *Payments*" in _replies(third)
    assert len(_so_far_in(running, "team-payments")) == 2


async def test_a_handover_so_far_slack_refused_is_posted_for_the_next_person(start_sandbox: StartSandbox) -> None:
    # Nothing was posted: the next to ask is not told "just posted", the handover is posted for them.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    running.sandbox.faults.add(_fault("slack", "chat.postMessage", status=503, times=1000))
    refused = await as_user(running, "command", user=DEV, channel="team-payments", text="handover post")
    assert "Posted" not in _replies(refused) and "just posted" not in _replies(refused), _replies(refused)
    # Told in words what failed and what to do (it was "something went wrong on our side … check PagerDuty").
    assert _replies(refused).startswith("⚠️ Slack is not answering right now"), _replies(refused)
    running.sandbox.faults.clear()
    second = await as_user(running, "command", user=CHLOE, channel="incidents", text="handover payments post")
    assert "Posted the handover so far for *Payments*" in _replies(second), _replies(second)
    assert len(_so_far_in(running, "team-payments")) == 1


async def test_a_handover_post_whose_answer_slack_lost_is_looked_for_not_said_to_be_missing(
        start_sandbox: StartSandbox) -> None:
    # The answer was "Something went wrong on our side … Check PagerDuty for what changed": the wrong system. Then
    # "Slack is not answering, so nothing was changed" for a 500, after which Slack may have posted it all the same.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    running.sandbox.faults.add(_fault("slack", "chat.postMessage", status=500, times=1000))
    refused = _replies(await as_user(running, "command", user=DEV, channel="team-payments", text="handover post"))
    assert refused.startswith("⚠️ Slack did not answer properly, so the handover so far may or may not be in "
                              "#team-payments. Look there before asking again."), refused
    assert "PagerDuty" not in refused, refused


async def test_a_handover_post_slack_made_but_whose_answer_it_lost_is_said_posted_once(
        start_sandbox: StartSandbox) -> None:
    # Slack posted it and lost its answer (a gateway's 500 after the post): found by its marker, said posted, once.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    running.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=500, times=1, after=True))
    lost = _replies(await as_user(running, "command", user=CHLOE, channel="incidents", text="handover payments post"))
    assert lost.startswith("Posted the handover so far for *Payments*"), lost
    assert len(_so_far_in(running, "team-payments")) == 1


async def test_the_handover_so_far_just_posted_is_said_so_while_slack_will_not_show_the_channel(
        start_sandbox: StartSandbox) -> None:
    # Looking for the post's link is a nicety: Slack rate-limiting conversations.history (an outage, everyone
    # scrolling) turned "it was just posted" into an error, and asking again within the minute gave the same error.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    first = await as_user(running, "command", user=DEV, channel="team-payments", text="handover post")
    assert "Posted the handover so far for *Payments*" in _replies(first)
    running.sandbox.faults.add(_fault("slack", "conversations.history", status=429, times=1000))
    second = await as_user(running, "command", user=CHLOE, channel="incidents", text="handover payments post")
    told = _replies(second)
    assert told.startswith("The handover so far for *Payments* was asked for in #team-payments"), told
    assert len(_so_far_in(running, "team-payments")) == 1


async def test_a_handover_so_far_still_being_posted_is_not_said_to_be_posted(start_sandbox: StartSandbox) -> None:
    # Two people at once, and Slack slow then refusing the post: the one who asked second was told it "was just
    # posted" while the first's post was still under way, and it never was. Whoever asked second is told it is
    # being posted, and to ask again if it does not show; the first is told it failed.
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    running.sandbox.faults.add(Fault(service="slack", method="chat.postMessage", status=500, times=1000,
                                     latency_ms=300))
    asked = await asyncio.gather(
        as_user(running, "command", user=DEV, channel="team-payments", text="handover post"),
        as_user(running, "command", user=CHLOE, channel="incidents", text="handover payments post"))
    await eventually(lambda: all(answers(running, answer) for answer in asked))
    assert _so_far_in(running, "team-payments") == []
    said = [answers(running, answer) for answer in asked]
    assert not [s for s in said if "was just posted" in s or s.startswith("Posted")], said


def _so_far_in(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    cid = channel_id(running, channel)
    return [m for m in state(running)["slack"]["messages"]
            if m["channel"] == cid and m["text"].startswith("*Handover so far") and not m["ephemeral_to"]]


async def test_oncall_for_a_rota_says_who_now_and_who_next(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    answer = await as_user(running, "command", user=DEV, channel="incidents", text="oncall retail-nights")
    assert _replies(answer) == ("On call for *Retail nights* now: nobody. "
                                "From Fri 27 Nov 17:30 (Europe/London): Ben Okafor.")


def _fault(service: str, method: str, *, status: int, times: int) -> Fault:
    return Fault(service=service, method=method, status=status, times=times)


def _replies(answer: dict[str, Any]) -> str:
    return "\n".join(str(p.get("text", "")) for p in answer["response_url_posts"])


async def test_overlapping_checks_claim_a_handover_once(start_sandbox: StartSandbox) -> None:
    """Checks of the same rota at once (a slow job overlapping the next, or two replicas sharing the store): whichever
    wins — these or the scheduler's own — the handover is claimed, queued and posted once."""
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC))
    running.sandbox.clock.set(datetime(2026, 11, 27, 17, 30, 10, tzinfo=UTC))  # moved without the bot's own check
    claimed = await asyncio.gather(*(running.bot.handovers.tick("payments") for _ in range(5)))
    assert len([c for c in claimed if c]) <= 1
    await settle(running)
    queued = rows(running.bot.settings.db_path,
        "SELECT count(*) AS n FROM outbox WHERE kind='post_handover' AND payload LIKE '%payments:%'")
    assert queued[0]["n"] == 1
    assert len(handovers_in(running, "team-payments")) == 1


async def test_a_reloaded_catalogue_rebuilds_the_handover_jobs(start_sandbox: StartSandbox, tmp_path: Path,
                                                               catalogue: Catalogue,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 15, 59, 50, tzinfo=UTC))
    data = catalogue.model_dump(mode="json", exclude_none=True)
    payments = next(r for r in data["rotas"] if r["id"] == "payments")
    payments["handovers"] = ["0 16 * * mon-fri"]
    data["rotas"] = [payments]
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert await reload_catalogue(running.bot, path)
    assert running.bot.scheduler is not None
    assert sorted(j.id for j in running.bot.scheduler.get_jobs() if j.id.startswith("handover:")) == [
        "handover:payments"]
    await move_clock_and_settle(running, advance_seconds=15)
    [post] = handovers_in(running, "team-payments")
    assert "→ Fri 27 Nov 16:00 (Europe/London)" in post

    path.write_text("rotas: [{id: broken}]")
    assert not await reload_catalogue(running.bot, path)
    assert "not reloaded, keeping the running one" in caplog.text
    path.write_text("")  # emptied (a ConfigMap key mounted empty): a bot paging nobody is not taken on either
    assert not await reload_catalogue(running.bot, path)
    assert "at least one service" in caplog.text


async def test_the_handover_lists_what_is_still_pending(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 20, tzinfo=UTC))
    running.sandbox.faults.add(_fault_for("servicenow", "*", status=503, seconds=3 * 3600, now=running))
    incident = await running.sandbox.pagerduty.trigger(title="Card payments failing", service_id="PCHECKO")
    await running.sandbox.pagerduty.drain_webhooks()
    await move_clock(running, to="2026-11-27T17:30:05+00:00")
    [post] = handovers_in(running, "team-payments")
    assert "*Pending (1)*" in post
    assert f"#{incident['incident_number']}: " in post and "ServiceNow update(s) waiting" in post


def _fault_for(service: str, method: str, *, status: int, seconds: float, now: RunningSandbox) -> Fault:
    return Fault(service=service, method=method, status=status,
                 until=now.sandbox.clock.now().timestamp() + seconds)


async def test_a_rota_over_several_schedules_hands_over_from_one_to_the_other(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """As `pavedroad provision` makes them: a working-hours and an out-of-hours schedule, handed over as one rota."""
    basket = next(r for r in catalogue.rotas if r.id == "basket")
    both = basket.model_copy(update={"pagerduty_schedule_id": None, "out_of_hours": True,
                                     "pagerduty_schedule_ids": ["PSBASKT", "PSRETNT"]})
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 29, 50, tzinfo=UTC),
                          organisation=catalogue.model_copy(update={"rotas": [both]}))
    await move_clock_and_settle(running, advance_seconds=15)
    [post] = handovers_in(running, "team-basket")
    assert post.startswith(f"*Handover: Basket (working hours) — {mention(running, ASHA)} → "
                           f"{mention(running, BEN)}*")


async def test_a_shift_of_ten_thousand_incidents_hands_over_within_slacks_limits(start_sandbox: StartSandbox) -> None:
    """An outage's shift: 10,000 incidents on a payments service, most still open. The scheduled post, the on-demand
    answer and the on-demand post all go through the sandbox's Slack (which refuses what Slack refuses: over 40,000
    characters is msg_too_long) and read as counts and the most pressing few."""
    running = await start_sandbox(at=FRIDAY_AFTERNOON)
    busy = [replace(incident(100_000 + n, f"2026-11-27T{9 + n // 1500:02d}:{n // 25 % 60:02d}",
                             resolved="2026-11-27T16:30" if n % 4 == 0 else None, title=f"Card payments failing {n}"),
                    service_id="PCHECKO", service_name="Checkout", urgency="high" if n % 10 == 0 else "low")
            for n in range(10_000)]
    assert await running.bot.store.add_history(busy, [], now=FRIDAY_AFTERNOON.timestamp()) == (10_000, 0)

    # Answered once the store has been read: asked of the live interaction, not of the sandbox's first report.
    answer = await as_user(running, "command", user=DEV, channel="team-payments", text="handover")
    await eventually(lambda: answers(running, answer) != "", within=60)
    so_far = answers(running, answer)
    assert so_far.startswith("*Handover so far: Payments") and len(so_far) <= 40_000
    assert "*During the shift (10,000)* — the 10 most pressing first" in so_far
    posted = await as_user(running, "command", user=DEV, channel="team-payments", text="handover post")
    await eventually(lambda: answers(running, posted) != "", within=60)
    assert "Posted the handover so far" in answers(running, posted)

    # Not settled: the history's incidents have no channels, so their reminders and card refreshes keep retrying.
    await move_clock(running, to="2026-11-27T17:30:05+00:00")
    await eventually(lambda: len(handovers_in(running, "team-payments")) == 2, within=60)
    [on_demand, post] = handovers_in(running, "team-payments")
    assert on_demand.startswith("*Handover so far: Payments")
    assert post.startswith("*Handover: Payments") and len(post) <= 40_000 and "(cut:" not in post
    assert "*Open now (7,500)* — the 10 most pressing first" in post
    assert "…and 7,490 more still open" in post
    assert "10,000 triggered: 1,000 high urgency · 2,500 resolved · 7,500 still open" in post
