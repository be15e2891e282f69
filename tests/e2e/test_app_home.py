"""The App Home tab end to end through the emulators: opening it publishes the person's Home (views.publish), and an
incident that concerns them opening (once its channel is open), being acknowledged or resolved, or a role in it changing
hands, publishes it again — asked of the bot's publisher, not queued in the outbox."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.domain.effects.slack import RefreshHomes
from bot.domain.home import HomesToRefresh
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    answers,
    as_user,
    eventually,
    incident_channels,
    move_clock,
    open_home,
    publishes,
    settle,
    slack_user,
    state,
    trigger,
)
from tests.helpers import StartSandbox, rows


def home_text(running: RunningSandbox, email: str) -> str:
    view = state(running)["slack"]["home_views"][slack_user(running, email)]
    assert view["type"] == "home"
    return "\n".join(str(b.get("text", {}).get("text", "")) + str(b.get("elements", ""))
                     for b in view["blocks"])


PARTS = ("Your open incidents", "All open incidents", "On call now for your teams and rotas",
         "Handover notes waiting on your rotas")


def section(text: str, title: str) -> str:
    """The lines of one part of the Home, up to the next part."""
    after = text.split(f"*{title}*", 1)[1]
    for other in PARTS:
        after = after.split(f"*{other}*", 1)[0]
    return after


async def test_bens_home_lists_the_open_incident_and_who_is_on_call(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, "Card payments failing", "PCHECKO")
    [channel] = incident_channels(sandbox)
    noted = await as_user(sandbox, "command", user="dev.sharma@example.com", channel="team-payments",
                          text="handover-note watch the refunds queue")
    await eventually(lambda: "Noted for the *Payments* handover" in answers(sandbox, noted))
    answer = await open_home(sandbox, "ben.okafor@example.com")
    assert answer["status"] == 200
    text = home_text(sandbox, "ben.okafor@example.com")
    number = f"#{incident['incident_number']}"
    # Ben is on call for Payments, so PagerDuty assigned him: the incident is his, and everyone's.
    assert number in section(text, "Your open incidents") and "Card payments failing" in text
    assert f"<#{channel['id']}>" in section(text, "All open incidents")
    # Who is on call now for his teams' and domains' rotas, from PagerDuty's schedules.
    on_call = section(text, "On call now for your teams and rotas")
    assert "*Payments*:" in on_call and "*Retail nights*:" in on_call and "*Customer nights*:" in on_call
    assert "Ben Okafor" in on_call or "Dev Sharma" in on_call
    assert "unknown" not in on_call
    # The note Dev left for the Payments handover waits on Ben's rota.
    assert "watch the refunds queue" in section(text, "Handover notes waiting on your rotas")


async def test_an_incident_opening_acknowledged_and_resolved_refreshes_the_assignees_home(
        sandbox: RunningSandbox) -> None:
    ben = slack_user(sandbox, "ben.okafor@example.com")
    incident = await trigger(sandbox, "Card payments failing", "PCHECKO")
    # Opened: Ben's Home was published without his opening it, once the channel was there to link to.
    await eventually(lambda: ben in state(sandbox)["slack"]["home_views"])
    [channel] = incident_channels(sandbox)
    mine = section(home_text(sandbox, "ben.okafor@example.com"), "Your open incidents")
    assert "🔴" in mine and f"<#{channel['id']}>" in mine
    await act(sandbox, incident["id"], "acknowledge", user="ben.okafor@example.com")
    await eventually(lambda: "🟠" in section(home_text(sandbox, "ben.okafor@example.com"), "Your open incidents"))
    await act(sandbox, incident["id"], "resolve", user="ben.okafor@example.com")
    await eventually(lambda: "None assigned to you" in home_text(sandbox, "ben.okafor@example.com"))
    assert "No open incidents" in home_text(sandbox, "ben.okafor@example.com")
    # None of it went through the outbox (a claim, a lease and a commit each, only to ask for a publish).
    assert rows(sandbox.bot.settings.db_path, "SELECT seq FROM outbox WHERE kind = 'refresh_homes'") == []


async def test_a_slow_channel_opening_publishes_the_home_once_it_can_link_the_channel(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/faults", json={"service": "slack", "method": "conversations.create",
                                                   "latency_ms": 2500, "times": 0}):
        pass
    # The channel takes longer to open than a Home takes to be published after a change (a second): Ben's Home is
    # published after it opened, and once, not once before with no channel to link and again after.
    await trigger(sandbox, "Card payments failing", "PCHECKO")
    await published(sandbox)
    [channel] = incident_channels(sandbox)
    assert f"<#{channel['id']}>" in section(home_text(sandbox, "ben.okafor@example.com"), "Your open incidents")
    assert publishes(sandbox) == 1


async def test_a_role_changing_hands_refreshes_the_old_and_the_new_holders_homes(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, "Card payments failing", "PCHECKO")
    [channel] = incident_channels(sandbox)
    number = f"#{incident['incident_number']}"
    # Gary has no PagerDuty account: only the role he holds makes the incident his.
    gave = await as_user(sandbox, "command", user="ben.okafor@example.com", channel=channel["id"],
                         text=f"role commander <@{slack_user(sandbox, 'gary.lind@example.com')}>")
    await eventually(lambda: "now commander" in answers(sandbox, gave))
    await settle(sandbox)
    await eventually(lambda: number in section(home_text(sandbox, "gary.lind@example.com"), "Your open incidents")
                     if slack_user(sandbox, "gary.lind@example.com") in state(sandbox)["slack"]["home_views"]
                     else False)
    took = await as_user(sandbox, "command", user="erin.walsh@example.com", channel=channel["id"],
                         text="role commander me")
    await eventually(lambda: "commander" in answers(sandbox, took))
    await settle(sandbox)
    await eventually(lambda: number not in section(home_text(sandbox, "gary.lind@example.com"), "Your open incidents"))
    erin = "erin.walsh@example.com"
    await eventually(lambda: slack_user(sandbox, erin) in state(sandbox)["slack"]["home_views"]
                     and number in section(home_text(sandbox, erin), "Your open incidents"))


async def test_a_refresh_queued_by_the_version_before_is_still_performed(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, "Card payments failing", "PCHECKO")
    await published(sandbox)
    gary = slack_user(sandbox, "gary.lind@example.com")
    assert gary not in state(sandbox)["slack"]["home_views"]
    # A RefreshHomes row as a deployment upgraded mid-incident finds it in the outbox, queued by the version before.
    await sandbox.bot.store.queue_effect(RefreshHomes(incident["id"], (), (gary,)),
                                         sandbox.bot.clock.now().timestamp())
    sandbox.bot.dispatcher.wake()
    await settle(sandbox)
    await published(sandbox)
    assert "Card payments failing" in section(home_text(sandbox, "gary.lind@example.com"), "All open incidents")


async def test_a_person_without_a_pagerduty_account_gets_the_open_incidents_and_the_reason(
        sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Card payments failing", "PCHECKO")
    await open_home(sandbox, "gary.lind@example.com")
    text = home_text(sandbox, "gary.lind@example.com")
    assert "There is no PagerDuty user with your Slack email (gary.lind@example.com)" in text
    assert "Card payments failing" in section(text, "All open incidents")
    assert "None assigned to you" in section(text, "Your open incidents")
    assert "You are in no team or rota of the catalogue." in text


async def test_pagerduty_down_leaves_the_on_call_unknown_not_the_home_unpublished(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Card payments failing", "PCHECKO")
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/faults", json={"service": "pagerduty", "status": 503, "times": 1000}):
        pass
    # PagerDuty's answers are shared for a minute of the bot's clock (the Home published when the incident opened
    # asked already): a minute on, the Home asks again.
    await move_clock(sandbox, advance_seconds=60)
    await open_home(sandbox, "ben.okafor@example.com")
    text = home_text(sandbox, "ben.okafor@example.com")
    assert "PagerDuty is not answering" in text
    assert "Card payments failing" in section(text, "All open incidents")


async def test_opening_the_messages_tab_publishes_nothing_and_unknown_people_are_refused(
        sandbox: RunningSandbox) -> None:
    # Slack sends app_home_opened for the Messages tab too: the bot has no Home to publish for it.
    answer = await open_home(sandbox, "ben.okafor@example.com", tab="messages")
    assert answer["status"] == 200
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sandbox.url}/sandbox/slack/home", json={"user": "nobody@example.com"}) as refused:
            assert refused.status == 404
            assert "no Slack user" in (await refused.json())["error"]
        async with session.post(f"{sandbox.url}/sandbox/slack/home", data=b"[1]") as refused:
            assert refused.status == 400
        async with session.post(f"{sandbox.url}/sandbox/slack/home", json={"user": "ben.okafor@example.com",
                                                                           "tab": "about"}) as refused:
            assert refused.status == 400
    assert state(sandbox)["slack"]["home_views"] == {}


async def test_the_home_opens_over_socket_mode_too(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(socket_mode=True)
    assert running.sandbox.slack.socket_mode.connected
    await trigger(running, "Card payments failing", "PCHECKO")
    # Gary is assigned nothing, so only opening his Home (the event, over the bot's WebSocket) publishes it.
    answer = await open_home(running, "gary.lind@example.com")
    assert answer["status"] == 200
    assert "Card payments failing" in section(home_text(running, "gary.lind@example.com"), "All open incidents")


async def test_a_handover_note_left_on_bens_rota_republishes_his_home_with_the_note(sandbox: RunningSandbox) -> None:
    ben = slack_user(sandbox, "ben.okafor@example.com")
    # Nothing concerns Ben yet and he has not opened the tab: no Home of his is published.
    assert ben not in state(sandbox)["slack"]["home_views"]
    noted = await as_user(sandbox, "command", user="dev.sharma@example.com", channel="team-payments",
                          text="handover-note watch the refunds queue")
    await eventually(lambda: "Noted for the *Payments* handover" in answers(sandbox, noted))
    # Ben is in the Payments team, whose rota the note waits on: his Home shows it without his opening the tab.
    await eventually(lambda: ben in state(sandbox)["slack"]["home_views"])
    assert "watch the refunds queue" in section(home_text(sandbox, "ben.okafor@example.com"),
                                                "Handover notes waiting on your rotas")


async def test_a_shift_change_republishes_the_rotas_homes_without_the_notes_it_handed_over(
        start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(at=datetime(2026, 11, 27, 17, 0, tzinfo=UTC))  # Payments hands over at 17:30
    noted = await as_user(running, "command", user="dev.sharma@example.com", channel="team-payments",
                          text="handover-note watch the refunds queue")
    await eventually(lambda: "Noted for the *Payments* handover" in answers(running, noted))
    await open_home(running, "ben.okafor@example.com")
    notes = "Handover notes waiting on your rotas"
    assert "watch the refunds queue" in section(home_text(running, "ben.okafor@example.com"), notes)
    await move_clock(running, to="2026-11-27T17:30:05+00:00")
    # The 17:30 handover took the note: Ben's Home, published again at the shift change, no longer waits on it.
    await eventually(lambda: "watch the refunds queue" not in section(home_text(running, "ben.okafor@example.com"),
                                                                      notes))



async def published(running: RunningSandbox) -> None:
    """Until the Homes refreshes asked for are published (a moment after the change: see AppHome._publish_soon)."""
    await eventually(lambda: running.bot.home.publishing == 0)


async def test_a_burst_of_refreshes_for_one_person_publishes_their_home_once(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Card payments failing", "PCHECKO")
    await published(sandbox)
    gary = slack_user(sandbox, "gary.lind@example.com")
    before = publishes(sandbox)
    # Five changes concerning Gary, one after another: his Home is published once, after the last.
    for _ in range(5):
        await sandbox.bot.home.refresh_for([], [gary])
    await published(sandbox)
    assert publishes(sandbox) - before == 1
    assert "Card payments failing" in section(home_text(sandbox, "gary.lind@example.com"), "All open incidents")


async def test_an_app_without_a_home_tab_is_told_once_not_per_person(sandbox: RunningSandbox,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    sandbox.sandbox.slack.home.enabled = False  # the manifest's home_tab_enabled off: Slack answers not_enabled
    people = [slack_user(sandbox, email) for email in ("gary.lind@example.com", "ben.okafor@example.com")]
    with caplog.at_level(logging.WARNING, logger="bot.services.home"):
        await sandbox.bot.home.refresh_for([], people)
        await published(sandbox)
        await sandbox.bot.home.refresh_for([], people)  # asked again: paused, not asked of Slack
        await published(sandbox)
    told = [r.getMessage() for r in caplog.records if r.name == "bot.services.home"]
    assert len(told) == 1 and "has no Home tab" in told[0], told


async def test_a_refresh_asked_while_a_publish_is_in_flight_gets_a_publish_of_its_own_after_it(
        sandbox: RunningSandbox) -> None:
    gary = slack_user(sandbox, "gary.lind@example.com")
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/faults", json={"service": "slack", "method": "views.publish", "latency_ms": 3000,
                                                   "times": 0}):
        pass
    await sandbox.bot.home.refresh_for([], [gary])
    before = publishes(sandbox)
    await eventually(lambda: publishes(sandbox) > before)  # gathered (no incident open) and being published
    await sandbox.sandbox.pagerduty.trigger(title="Card payments failing", service_id="PCHECKO")
    await sandbox.sandbox.pagerduty.drain_webhooks()
    for _ in range(500):  # until the worker has applied the trigger
        if await sandbox.bot.store.open_incidents():
            break
        await asyncio.sleep(0.02)
    # Asked while the first publish (which showed no incident) is in flight: another follows, gathered after it.
    await sandbox.bot.home.refresh_for([], [gary])
    await published(sandbox)
    assert "Card payments failing" in section(home_text(sandbox, "gary.lind@example.com"), "All open incidents")
    await settle(sandbox)


async def test_people_unknown_here_are_looked_up_once_a_burst_and_not_while_pagerduty_is_down(
        sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture) -> None:
    """A burst of changes concerning people this process has not met asks who they are once, not once a change; and
    after PagerDuty failed to say, none is asked for a while (PAGERDUTY down in a storm: no storm of lookups)."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/faults", json={"service": "pagerduty", "status": 503, "times": 1000}):
        pass
    with caplog.at_level(logging.WARNING, logger="bot.services.home"):
        for n in range(20):
            sandbox.bot.home.refresh_soon(HomesToRefresh(f"QBURST{n}", ("PNOBODY1", "PNOBODY2")))
        await published(sandbox)
        for n in range(20):  # a moment later, PagerDuty still down: lookups rest
            sandbox.bot.home.refresh_soon(HomesToRefresh(f"QLATER{n}", ("PNOBODY3",)))
        await published(sandbox)
    told = [r.getMessage() for r in caplog.records if r.name == "bot.services.home"]
    assert len(told) == 1 and told[0].startswith("App Homes of 2 people not refreshed"), told


async def test_in_a_storm_the_home_shows_the_most_pressing_incidents_first(sandbox: RunningSandbox) -> None:
    """Found in review (session 25): with more open incidents than a Home lists, it listed the oldest by number, so
    in a storm the newest high-urgency page was among "…and N more". Now the most pressing come first, as in a
    handover: high urgency, then not yet acknowledged, then the longest open — and the heading says so."""
    for n in range(21):
        await sandbox.sandbox.pagerduty.trigger(title=f"Disk filling on node {n}", service_id="PBASKET", urgency="low")
    await settle(sandbox)
    fire = await trigger(sandbox, "Checkout is down for everyone", "PCHECKO")
    await open_home(sandbox, "ben.okafor@example.com")
    text = home_text(sandbox, "ben.okafor@example.com")
    heading = "*All open incidents — the 20 most pressing first*"
    assert heading in text
    everyone = text.split(heading, 1)[1].split("*On call now", 1)[0]
    assert everyone.index(f"#{fire['incident_number']}") < everyone.index("Disk filling on node 0")
    assert "…and 2 more open incidents: <" in everyone and "PagerDuty's incident list has them all>" in everyone
