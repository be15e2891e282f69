"""Two replicas sharing one database agree on what Slack sent twice: a retried event, a double click, the same command
repeated. The second replica is a second Bot on the first one's database file, behind its own HTTP server; the
sandbox's Slack delivers through a round-robin load balancer, so two deliveries in a row reach different replicas."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.adapters.clock import SettableClock
from bot.adapters.store.sqlite.store import SqliteStore
from bot.app.runtime import Bot
from bot.app.web import build_web_app
from bot.catalogue import Catalogue
from bot.errors import IntegrationError, OutcomeUnknown
from commands.repeats import (
    ALREADY_CLICKED,
    ALREADY_COMMANDED,
    REPEAT_WINDOW_SECONDS,
    UNDER_WAY_LEASE_SECONDS,
    Repeats,
)
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    answers,
    as_user,
    card,
    channel_id,
    eventually,
    incident_channels,
    send_mention,
    state,
    thread,
    trigger,
)
from tests.helpers import rows

ASHA, CHLOE, DEV = "asha.patel@example.com", "chloe.martin@example.com", "dev.sharma@example.com"


@pytest.fixture
async def replica(sandbox: RunningSandbox, catalogue: Catalogue) -> AsyncIterator[str]:
    """The events URL of a second replica, and Slack's deliveries alternating between the two. Only the second
    replica's Slack listeners run: the first replica's loops do the rest."""
    bot = Bot(sandbox.bot.settings, catalogue, clock=sandbox.bot.clock, replica_id="second-replica")
    await bot.store.open()
    server = TestServer(build_web_app(bot, manage_lifecycle=False, socket_mode=False))
    await server.start_server()
    url = str(server.make_url("/slack/events"))
    balancer = TestServer(round_robin([f"{sandbox.url}/slack/events", url]))
    await balancer.start_server()
    sandbox.sandbox.slack.bot_events_url = str(balancer.make_url("/slack/events"))
    yield url
    await balancer.close()
    await server.close()
    await bot.stop()


def round_robin(targets: list[str]) -> web.Application:
    turn = itertools.cycle(targets)

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as session, session.post(next(turn), data=await request.read(),
                                                                    headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)
    app = web.Application()
    app.router.add_post("/slack/events", forward)
    return app


async def test_an_event_retried_to_another_replica_is_answered_once(sandbox: RunningSandbox, replica: str) -> None:
    first = f"{sandbox.url}/slack/events"
    await send_mention(sandbox, "Ev300", "1700000000.000400", events_url=first)
    await eventually(lambda: len(thread(sandbox, "1700000000.000400")) == 1)
    await send_mention(sandbox, "Ev300", "1700000000.000400", events_url=replica, retry="1")
    # A retry of an event that never reached any replica is still handled, by whichever receives it.
    await send_mention(sandbox, "Ev301", "1700000000.000500", events_url=replica, retry="1")
    await eventually(lambda: len(thread(sandbox, "1700000000.000500")) == 1)
    assert len(thread(sandbox, "1700000000.000400")) == 1


async def test_a_double_click_landing_on_two_replicas_acknowledges_once(sandbox: RunningSandbox,
                                                                       replica: str) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    ts = card(sandbox, channel)["ts"]
    clicks = await asyncio.gather(*(as_user(sandbox, "action", user=ASHA, channel=channel["id"], message_ts=ts,
                                            action_id="incident_acknowledge") for _ in range(2)))
    await eventually(lambda: all(answers(sandbox, click) for click in clicks))
    said = sorted(answers(sandbox, click) for click in clicks)
    assert said[0] == ALREADY_CLICKED and said[1].startswith("✅ Acknowledged")
    assert sandbox.sandbox.pagerduty.calls["PUT /incidents/{id}"] == 1


async def test_a_command_repeated_on_another_replica_acts_once(sandbox: RunningSandbox, replica: str) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    first = await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text="resolve Rolled back")
    second = await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text="resolve Rolled back")
    await eventually(lambda: "Resolved" in answers(sandbox, first) and bool(answers(sandbox, second)))
    assert answers(sandbox, second) == ALREADY_COMMANDED
    assert [n["content"] for n in state(sandbox)["pagerduty"]["notes"]] == ["Resolution: Rolled back"]


async def test_a_note_repeated_on_another_replica_reaches_pagerduty_once(sandbox: RunningSandbox,
                                                                         replica: str) -> None:
    await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    sent = [await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text="note Rolling back to 4.2.0")
            for _ in range(2)]
    await eventually(lambda: all(answers(sandbox, answer) for answer in sent))
    assert ALREADY_COMMANDED in [answers(sandbox, answer) for answer in sent]
    assert [n["content"] for n in state(sandbox)["pagerduty"]["notes"]] == ["Rolling back to 4.2.0"]
    # Another note is another note, at once.
    third = await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text="note Rollback done")
    await eventually(lambda: bool(answers(sandbox, third)))
    assert [n["content"] for n in state(sandbox)["pagerduty"]["notes"]] == ["Rolling back to 4.2.0",
                                                                          "Rollback done"]


async def test_a_click_and_an_ack_command_by_one_person_acknowledge_once_across_replicas(
        sandbox: RunningSandbox, replica: str) -> None:
    incident = await trigger(sandbox)
    [channel] = incident_channels(sandbox)
    ts = card(sandbox, channel)["ts"]
    # The card's button on one replica; `/incident ack <number>` from another channel on the other, at once: the
    # same person acknowledging the same incident.
    click, command = await asyncio.gather(
        as_user(sandbox, "action", user=ASHA, channel=channel["id"], message_ts=ts,
                action_id="incident_acknowledge"),
        as_user(sandbox, "command", user=ASHA, channel=channel_id(sandbox, "team-payments"),
                text=f"ack {incident['incident_number']}"))
    await eventually(lambda: bool(answers(sandbox, click)) and bool(answers(sandbox, command)))
    said = {answers(sandbox, click), answers(sandbox, command)}
    assert said & {ALREADY_CLICKED, ALREADY_COMMANDED}
    assert any(s.startswith("✅ Acknowledged") for s in said)
    assert sandbox.sandbox.pagerduty.calls["PUT /incidents/{id}"] == 1


def handovers_so_far(running: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    cid = channel_id(running, channel)
    return [m for m in state(running)["slack"]["messages"]
            if m["channel"] == cid and m["text"].startswith("*Handover so far") and not m["ephemeral_to"]]


async def test_two_people_posting_the_handover_at_once_on_two_replicas_post_it_once(sandbox: RunningSandbox,
                                                                                      replica: str) -> None:
    # The repeat guard keyed the post by who asked: Dev (in the rota's channel) and Chloe (naming the rota from
    # #incidents), within a second of each other, each posted the handover so far in #team-payments.
    asked = await asyncio.gather(
        as_user(sandbox, "command", user=DEV, channel="team-payments", text="handover post"),
        as_user(sandbox, "command", user=CHLOE, channel="incidents", text="handover payments post"))
    await eventually(lambda: all(answers(sandbox, answer) for answer in asked))
    assert len(handovers_so_far(sandbox, "team-payments")) == 1
    said = sorted(answers(sandbox, answer) for answer in asked)
    assert said[0].startswith("Posted the handover so far for *Payments* in #team-payments"), said
    # Asked while the first was still being posted: pointed to the channel, "just posted" only once Slack shows it.
    assert said[1].startswith(("The handover so far for *Payments* was just posted in #team-payments",
                               "The handover so far for *Payments* was asked for in #team-payments")), said


Replicas = tuple[Repeats, Repeats, SettableClock]
# Real seconds between renewals of a request under way in these tests (the bot's: a third of the lease, 5 s); the
# lease itself is counted on the tests' clock.
RENEWING_EVERY = 0.01


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    """The repeat guards of two replicas sharing one database file ("here" and "there"), and the clock they share."""
    clock = SettableClock()
    one, two = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    await one.open()
    await two.open()
    yield Repeats(one, clock, renew_every=RENEWING_EVERY), Repeats(two, clock, renew_every=RENEWING_EVERY), clock
    await one.close()
    await two.close()


async def test_repeats_are_decided_in_the_database_and_forgotten_after_their_window(replicas: Replicas) -> None:
    here, there, clock = replicas
    assert await here.first_click("U1", "incident_acknowledge", "P1")
    assert not await there.first_click("U1", "incident_acknowledge", "P1")
    assert await there.first_click("U2", "incident_acknowledge", "P1")  # someone else's click is their own
    assert await there.first_command("U1", "resolve", "fixed it", "C1")
    assert not await here.first_command("U1", "resolve", "fixed it", "C1")
    assert await here.first_command("U1", "resolve", "fixed it in the end", "C1")
    clock.advance(timedelta(seconds=6))
    assert await there.first_click("U1", "incident_acknowledge", "P1")
    assert await handled(here, "Ev1") and not await handled(there, "Ev1")
    clock.advance(timedelta(minutes=59))
    assert not await handled(there, "Ev1")  # Slack's retries come for up to an hour


async def nothing() -> None:
    return None


async def handled(repeats: Repeats, event_id: str, work: Callable[[], Awaitable[None]] = nothing) -> bool:
    """What a replica does with an event Slack delivers: claimed before its ack, then its work done; False for a
    repeat (nothing done)."""
    claim = await repeats.claim_event(event_id)
    if claim is None:
        return False
    await repeats.event_done(work, claim)
    return True


async def test_an_event_whose_work_failed_or_was_cut_short_is_acted_on_when_slack_retries_it(
        replicas: Replicas) -> None:
    here, there, _ = replicas

    async def slack_down() -> None:
        raise IntegrationError("slack", "not answering", retryable=True)
    with pytest.raises(IntegrationError):
        await handled(here, "Ev2", slack_down)
    assert await handled(there, "Ev2")  # the retry, on another replica
    assert not await handled(here, "Ev2")  # and a retry of that one, done, is not

    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()
    cut = asyncio.ensure_future(handled(here, "Ev3", hangs))
    await started.wait()
    assert not await handled(there, "Ev3")  # under way: a retry meanwhile is a repeat
    cut.cancel()  # the bot stopping cuts it short
    with pytest.raises(asyncio.CancelledError):
        await cut
    assert await handled(there, "Ev3")


async def test_a_request_whose_action_failed_is_no_repeat_on_any_replica(replicas: Replicas) -> None:
    here, there, _ = replicas

    async def pagerduty_down() -> str:
        raise IntegrationError("pagerduty", "not answering", retryable=True)

    async def acknowledged() -> str:
        return "acknowledged"
    with pytest.raises(IntegrationError):  # nothing was done: the person is told, and may try again
        await here.command_once(pagerduty_down, "U1", "ack", "", "P1")
    with pytest.raises(IntegrationError):
        await here.click_once(pagerduty_down, "U1", "incident_take_command", "P1")
    with pytest.raises(IntegrationError):
        await here.submission_once(pagerduty_down, "U1", "incident_update_modal", "Rolling back", "P1")
    # Tried again at once, on the other replica: acted on, and only then is the next one a repeat.
    assert await there.command_once(acknowledged, "U1", "ack", "", "P1") == "acknowledged"
    assert await here.command_once(acknowledged, "U1", "ack", "", "P1") is None
    assert await there.click_once(acknowledged, "U1", "incident_take_command", "P1") == "acknowledged"
    assert await here.click_once(acknowledged, "U1", "incident_take_command", "P1") is None
    assert await there.submission_once(acknowledged, "U1", "incident_update_modal", "Rolling back",
                                       "P1") == "acknowledged"
    assert await here.submission_once(acknowledged, "U1", "incident_update_modal", "Rolling back", "P1") is None


async def test_a_request_whose_outcome_is_unknown_after_a_slow_answer_is_still_a_repeat(replicas: Replicas) -> None:
    """PagerDuty gave no answer within its 10 s timeout (longer than the repeat window): it may have paged. The same
    command sent at once after the answer, on any replica, is not acted on a second time."""
    here, there, clock = replicas

    async def pagerduty_silent() -> str:
        clock.advance(timedelta(seconds=10))  # the adapter's timeout, waited out
        raise OutcomeUnknown("PagerDuty did not answer properly, so it may or may not have done it.")

    async def paged() -> str:
        return "paged"
    with pytest.raises(OutcomeUnknown):
        await here.command_once(pagerduty_silent, "U1", "page-im", "decide", "P1")
    assert await there.command_once(paged, "U1", "page-im", "decide", "P1") is None
    clock.advance(timedelta(seconds=6))  # past the window: a new request
    assert await there.command_once(paged, "U1", "page-im", "decide", "P1") == "paged"


async def test_the_same_request_while_the_first_is_under_way_is_a_repeat_however_long_it_takes(
        replicas: Replicas) -> None:
    """PagerDuty is slow (up to its 10 s timeout): the same command sent again while the first still waits, past the
    repeat window, pages nobody a second time; once answered, its repeats are counted from the answer."""
    here, there, clock = replicas
    waiting, answered = asyncio.Event(), asyncio.Event()

    async def slow_page() -> str:
        waiting.set()
        await answered.wait()
        return "paged"

    async def paged() -> str:
        return "paged"
    first = asyncio.create_task(here.command_once(slow_page, "U1", "page-im", "decide", "P1"))
    await waiting.wait()
    clock.advance(timedelta(seconds=8))  # PagerDuty has still not answered
    assert await there.command_once(paged, "U1", "page-im", "decide", "P1") is None
    answered.set()
    assert await first == "paged"
    clock.advance(timedelta(seconds=4))  # within the window from the answer
    assert await there.command_once(paged, "U1", "page-im", "decide", "P1") is None
    clock.advance(timedelta(seconds=1.5))  # past it: a new request
    assert await there.command_once(paged, "U1", "page-im", "decide", "P1") == "paged"


async def test_a_request_whose_replica_died_under_way_is_acted_on_elsewhere_once_its_lease_has_run_out(
        replicas: Replicas, tmp_path: Path) -> None:
    """The replica acknowledging is killed while PagerDuty has not answered (its store gone with it: nothing renews
    the request, nothing forgets it). The on-call engineer sends the same `/incident ack` again, on the replica that
    survived: a repeat within the lease, acted on once it has run out, well before the slowest request could end."""
    _, there, clock = replicas
    dying_store = SqliteStore(tmp_path / "shared.db")
    await dying_store.open()
    dying, pagerduty_asked = Repeats(dying_store, clock), asyncio.Event()

    async def never_answered() -> str:
        pagerduty_asked.set()
        await asyncio.Event().wait()
        return "acknowledged"

    async def acknowledged() -> str:
        return "acknowledged"
    stranded = asyncio.create_task(dying.command_once(never_answered, "U1", "ack", "", "P1"))
    await pagerduty_asked.wait()
    await dying_store.close()  # the process killed: its renewals no longer reach the database
    clock.advance(timedelta(seconds=UNDER_WAY_LEASE_SECONDS - 1))
    assert await there.command_once(acknowledged, "U1", "ack", "", "P1") is None  # may still be under way
    clock.advance(timedelta(seconds=2))  # the lease has run out: nobody is working on it
    assert await there.command_once(acknowledged, "U1", "ack", "", "P1") == "acknowledged"
    stranded.cancel()
    with contextlib.suppress(asyncio.CancelledError, RuntimeError):  # RuntimeError: its store is closed
        await stranded


def renewed_from(db_path: Path, moment: float) -> Callable[[], bool]:
    """Whether the one request under way in the database has had its lease renewed at `moment` or later."""
    def renewed() -> bool:
        [row] = rows(db_path, "SELECT expires_at FROM seen_once")
        return float(row["expires_at"]) >= moment + UNDER_WAY_LEASE_SECONDS
    return renewed


async def test_a_request_still_under_way_stays_covered_past_its_lease_because_it_is_renewed(
        replicas: Replicas, tmp_path: Path) -> None:
    """PagerDuty hangs on the first click for a minute of the clock (more than the lease, and more than the 45 s that
    covered a request under way before leases): the same click on the other replica is a repeat all along."""
    here, there, clock = replicas
    waiting, answered = asyncio.Event(), asyncio.Event()

    async def hanging_page() -> str:
        waiting.set()
        await answered.wait()
        return "paged"

    async def paged() -> str:
        return "paged"
    first = asyncio.create_task(here.click_once(hanging_page, "U1", "incident_page", "P1"))
    await waiting.wait()
    for _ in range(5):
        clock.advance(timedelta(seconds=UNDER_WAY_LEASE_SECONDS - 3))  # within the lease last renewed
        assert await there.click_once(paged, "U1", "incident_page", "P1") is None
        await eventually(renewed_from(tmp_path / "shared.db", clock.now().timestamp()))
    answered.set()
    assert await first == "paged"


class RenewalCountingStore(SqliteStore):
    """The real store, counting the leases of requests under way renewed through it."""

    renewed = 0

    async def remember(self, key: str, window_seconds: float, now: float) -> None:
        await super().remember(key, window_seconds, now)
        if window_seconds == UNDER_WAY_LEASE_SECONDS:
            self.renewed += 1


async def test_a_renewal_due_while_the_answer_is_recorded_never_overwrites_its_window(tmp_path: Path) -> None:
    """Renewals due all the time (every turn of the event loop): the answer's window still ends REPEAT_WINDOW after
    the answer, not a lease after it."""
    clock = SettableClock(frozen=True)
    store = RenewalCountingStore(tmp_path / "shared.db")
    await store.open()
    try:
        repeats = Repeats(store, clock, renew_every=0)

        async def slow_page() -> str:
            await eventually(lambda: store.renewed >= 2)
            return "paged"
        assert await repeats.command_once(slow_page, "U1", "page-im", "decide", "P1") == "paged"
        renewed = store.renewed
        for _ in range(3):  # a renewal left running would land meanwhile
            await store.first_time("a round trip to the store", 1, clock.now().timestamp())
        assert store.renewed == renewed
        clock.advance(timedelta(seconds=REPEAT_WINDOW_SECONDS - 0.1))
        assert await repeats.command_once(slow_page, "U1", "page-im", "decide", "P1") is None
        clock.advance(timedelta(seconds=0.1))  # the answer's window is over, not a lease from it
        assert await repeats.command_once(slow_page, "U1", "page-im", "decide", "P1") == "paged"
    finally:
        await store.close()


class ForgetfulStore(SqliteStore):
    """The real store, whose `remember` fails (the database gone just as the action was answered)."""

    refused = 0

    async def remember(self, key: str, window_seconds: float, now: float) -> None:
        self.refused += 1
        raise OSError("disk I/O error")


async def test_an_action_done_stays_done_for_the_person_when_its_window_cannot_be_shortened(tmp_path: Path) -> None:
    """Neither the renewals of its lease while PagerDuty is slow nor the window from its answer reach the store:
    the page is done all the same, and the person told so."""
    clock = SettableClock()
    store = ForgetfulStore(tmp_path / "shared.db")
    await store.open()
    try:
        repeats = Repeats(store, clock, renew_every=RENEWING_EVERY)

        async def paged() -> str:
            await eventually(lambda: store.refused >= 2)  # two renewals refused while PagerDuty answers
            return "paged"
        assert await repeats.command_once(paged, "U1", "page-im", "decide", "P1") == "paged"
        clock.advance(timedelta(seconds=6))  # the key kept its lease from the claim: still a repeat
        assert await repeats.command_once(paged, "U1", "page-im", "decide", "P1") is None
    finally:
        await store.close()
