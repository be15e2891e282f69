"""The App Home while PagerDuty struggles, end to end through the emulators: in a rate-limit storm, people opening the
tab again and again share PagerDuty's failure for its minute (as the refreshes do) instead of each asking PagerDuty
again; and PagerDuty down as a Home is refreshed keeps what the Home last knew from PagerDuty — the person's own
incidents, who is on call — saying when it was looked up, instead of publishing a worse Home over a good one."""

from __future__ import annotations

from datetime import timedelta

from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    eventually,
    move_clock,
    open_home,
    publishes,
    slack_user,
    state,
    trigger,
)

BEN = "ben.okafor@example.com"
PARTS = ("Your open incidents", "All open incidents", "On call now for your teams and rotas",
         "Handover notes waiting on your rotas")


def home_text(running: RunningSandbox, email: str) -> str:
    view = state(running)["slack"]["home_views"][slack_user(running, email)]
    return "\n".join(str(b.get("text", {}).get("text", "")) + str(b.get("elements", "")) for b in view["blocks"])


def section(text: str, title: str) -> str:
    after = text.split(f"*{title}*", 1)[1]
    for other in PARTS:
        after = after.split(f"*{other}*", 1)[0]
    return after


def pagerduty_calls(running: RunningSandbox) -> int:
    return sum(state(running)["pagerduty"]["calls"].values())


async def to_a_new_minute(running: RunningSandbox) -> None:
    """The bot's clock to one second into the next minute: PagerDuty's answers of the minute before are over, and the
    test has most of a minute before the next one (the sandbox's clock runs on)."""
    now = running.sandbox.clock.now()
    await move_clock(running, to=(now.replace(second=1, microsecond=0) + timedelta(minutes=1)).isoformat())


async def test_opening_the_home_again_and_again_in_a_rate_limit_storm_asks_pagerduty_once_a_minute(
        sandbox: RunningSandbox) -> None:
    """PagerDuty rate-limits the bot (429). Ben opens his Home, is told PagerDuty is not answering, and opens it again,
    three times: each opening asked PagerDuty again (who he is, who is on call for each of his rotas), feeding the
    storm. The failure is shared for its minute, as the refreshes share it, and the Home says when it asks again."""
    await trigger(sandbox, "Card payments failing", "PCHECKO")
    await to_a_new_minute(sandbox)
    sandbox.sandbox.faults.add(Fault("pagerduty", "*", status=429, times=10_000))
    before = pagerduty_calls(sandbox)
    await open_home(sandbox, BEN)
    asked = pagerduty_calls(sandbox) - before
    assert asked > 0
    for _ in range(3):
        await open_home(sandbox, BEN)
    assert pagerduty_calls(sandbox) - before == asked, (asked, pagerduty_calls(sandbox) - before)
    text = home_text(sandbox, BEN)
    assert "PagerDuty is not answering" in text and "open the tab again after" in text, text
    # Its minute over, PagerDuty back: the next opening asks again, and shows his incidents.
    sandbox.sandbox.faults.clear()
    await to_a_new_minute(sandbox)
    await open_home(sandbox, BEN)
    assert pagerduty_calls(sandbox) - before > asked
    assert "PagerDuty is not answering" not in home_text(sandbox, BEN)


async def test_pagerduty_down_as_the_home_is_refreshed_keeps_what_it_last_looked_up_and_says_when(
        sandbox: RunningSandbox) -> None:
    """Ben's Home lists his incident and who is on call. PagerDuty goes down; the incident is acknowledged and his
    Home refreshed: it lost his incident from "Your open incidents" ("could not be looked up") and every on-call name
    ("unknown"), a worse Home over a good one. Who he is in PagerDuty, and who was on call, are kept from the last
    answer, saying when that was."""
    incident = await trigger(sandbox, "Card payments failing", "PCHECKO")
    number = f"#{incident['incident_number']}"
    await to_a_new_minute(sandbox)
    looked_up = sandbox.sandbox.clock.now()
    await open_home(sandbox, BEN)
    good = home_text(sandbox, BEN)
    assert number in section(good, "Your open incidents")
    on_call = section(good, "On call now for your teams and rotas")
    assert "*Payments*:" in on_call and "unknown" not in on_call, on_call
    await to_a_new_minute(sandbox)
    sandbox.sandbox.faults.add(Fault("pagerduty", "*", status=503, times=10_000))
    before = publishes(sandbox)
    await act(sandbox, incident["id"], "acknowledge", user=BEN)
    await eventually(lambda: publishes(sandbox) > before and "🟠" in home_text(sandbox, BEN))
    text = home_text(sandbox, BEN)
    mine = section(text, "Your open incidents")
    assert number in mine and "could not be looked up" not in mine, text
    kept = section(text, "On call now for your teams and rotas")
    assert "unknown" not in kept, kept
    payments = next(line for line in on_call.splitlines() if "*Payments*:" in line)
    assert payments.split(":", 1)[1].strip() in kept, kept
    assert f"as looked up at {looked_up:%H:%M} UTC" in kept and "PagerDuty is not answering" in text, text


async def test_what_pagerduty_said_on_an_earlier_day_says_which_day(sandbox: RunningSandbox) -> None:
    """Ben's Home was last answered by PagerDuty yesterday; PagerDuty is down as he opens it today, a minute later in
    the day: "as looked up at 09:41 UTC" read as a minute ago, while yesterday's on-call names may have handed over
    since. What was looked up on an earlier day says which day."""
    await trigger(sandbox, "Card payments failing", "PCHECKO")
    await to_a_new_minute(sandbox)
    looked_up = sandbox.sandbox.clock.now()
    await open_home(sandbox, BEN)
    assert "unknown" not in section(home_text(sandbox, BEN), "On call now for your teams and rotas")
    await move_clock(sandbox, to=(looked_up + timedelta(days=1, minutes=1)).isoformat())
    sandbox.sandbox.faults.add(Fault("pagerduty", "*", status=503, times=10_000))
    await open_home(sandbox, BEN)
    text = home_text(sandbox, BEN)
    kept = section(text, "On call now for your teams and rotas")
    payments = next(line for line in kept.splitlines() if "*Payments*:" in line)
    assert f"as looked up on {looked_up:%Y-%m-%d} at {looked_up:%H:%M} UTC" in payments, payments
    assert f"your PagerDuty account as looked up on {looked_up:%Y-%m-%d} at {looked_up:%H:%M} UTC" in text, text
    # The same day, the time alone says when.
    sandbox.sandbox.faults.clear()
    await to_a_new_minute(sandbox)
    again = sandbox.sandbox.clock.now()
    await open_home(sandbox, BEN)
    await to_a_new_minute(sandbox)
    sandbox.sandbox.faults.add(Fault("pagerduty", "*", status=503, times=10_000))
    await open_home(sandbox, BEN)
    text = home_text(sandbox, BEN)
    assert f"as looked up at {again:%H:%M} UTC" in text and " on 20" not in text, text
