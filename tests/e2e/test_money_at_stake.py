"""Issue 6 through the sandbox: `/incident service <name>` as a Slack user, and the money at stake on the live
incident card as the sandbox's clock moves (POST /sandbox/clock)."""

from __future__ import annotations

from typing import Any

from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    act,
    as_user,
    card,
    incident_channels,
    move_clock,
    replies,
    settle,
    state,
    trigger,
)

ASHA = "asha.patel@example.com"


def money_line(running: RunningSandbox, channel: dict[str, Any]) -> str:
    blocks = card(running, channel)["blocks"]
    found = [b["text"]["text"] for b in blocks if b.get("block_id") == "money_at_stake"]
    assert len(found) == 1, blocks
    return str(found[0])


async def test_service_answers_band_target_budget_and_cover(sandbox: RunningSandbox) -> None:
    answer = await as_user(sandbox, "command", user=ASHA, channel="team-basket", text="service checkout")
    text = replies(answer)
    assert "*Checkout* (`checkout`) — team Payments, product domain retail" in text
    assert ("Exposure £750K in 45 min → band *High* · availability target *99.9%* · error budget *43.2 min* per 30 "
            "days") in text
    assert "Working hours: team rota *Payments* (`payments`, handed over in #team-payments)" in text
    assert "Out of hours: team rota *Payments* (`payments`, handed over in #team-payments)" in text
    answer = await as_user(sandbox, "command", user=ASHA, channel="team-basket", text="service Fashion Catalogue")
    assert "Out of hours: domain rota *Retail nights* (`retail-nights`, handed over in #retail-oncall)" in \
        replies(answer)
    answer = await as_user(sandbox, "command", user=ASHA, channel="team-basket", text="service delivery-slots")
    assert "band *Low* · availability target *99.0%* · error budget *432 min*" in replies(answer)
    assert "Out of hours: no on-call" in replies(answer)


async def test_service_with_a_misspelt_or_missing_name(sandbox: RunningSandbox) -> None:
    answer = await as_user(sandbox, "command", user=ASHA, channel="team-basket", text="service baskit")
    assert "⚠️ I don't know a service called `baskit`. Did you mean `basket-api`" in replies(answer)
    answer = await as_user(sandbox, "command", user=ASHA, channel="team-basket", text="service")
    assert "⚠️ Which service? `/incident service <name>`" in replies(answer)
    help_text = replies(await as_user(sandbox, "command", user=ASHA, channel="team-basket", text="help"))
    assert "/incident service [name]" in help_text


async def test_service_inside_an_incident_channel_is_the_incidents(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Picking lists are empty", service_id="PWAREHS")
    [channel] = incident_channels(sandbox)
    answer = await as_user(sandbox, "command", user=ASHA, channel=channel["id"], text="service")
    assert "*Warehouse Picking* (`warehouse-picking`)" in replies(answer)
    assert "band *High*" in replies(answer)


async def test_the_card_counts_the_money_while_the_window_runs(sandbox: RunningSandbox) -> None:
    bot = sandbox.bot
    await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")
    [channel] = incident_channels(sandbox)
    assert "at risk so far · 45 min left of a 45 min window" in money_line(sandbox, channel)

    await move_clock(sandbox, advance_seconds=27 * 60)
    assert await bot.refresh_money_at_stake() == 1
    await settle(sandbox)
    assert money_line(sandbox, channel) == ("💸 *£450K at risk so far · 18 min left of a 45 min window*  ·  High "
                                            "exposure band")

    await move_clock(sandbox, advance_seconds=30 * 60)
    # The window passed 12 minutes ago: no more minute-by-minute refreshes; the five-minute one keeps it true.
    assert await bot.refresh_money_at_stake() == 0
    assert await bot.refresh_open_cards() == 1
    await settle(sandbox)
    assert "£750K lost — exposure window passed 12 min ago" in money_line(sandbox, channel)

    incident = state(sandbox)["pagerduty"]["incidents"][0]
    await act(sandbox, incident["id"], "resolve")
    # The realised loss, as the reports count it (not capped): 750K * 57 / 45.
    assert "£950K realised loss — restored after 57 min, of a 45 min window" in money_line(sandbox, channel)


async def test_the_realised_loss_of_an_incident_restored_inside_its_window(sandbox: RunningSandbox) -> None:
    incident = await trigger(sandbox, "Picking lists are empty", service_id="PWAREHS")
    [channel] = incident_channels(sandbox)
    await move_clock(sandbox, advance_seconds=9 * 60)
    await act(sandbox, incident["id"], "resolve")
    # £600K exposure in the High band (45 min window), restored after 9 minutes: 600K * 9 / 45.
    assert "£120K realised loss — restored after 9 min, of a 45 min window" in money_line(sandbox, channel)
    assert await sandbox.bot.refresh_money_at_stake() == 0  # resolved: nothing at stake


async def test_only_incidents_with_money_at_stake_are_refreshed_each_minute(sandbox: RunningSandbox) -> None:
    await trigger(sandbox, "Slots page slow", service_id="PDELIVS")  # Low band: £50K in a 7 h window
    await trigger(sandbox, "Checkout returns 500s", service_id="PCHECKO")  # High band: 45 min
    await move_clock(sandbox, advance_seconds=66 * 60)
    # Checkout's window passed 21 minutes ago; Delivery Slots' runs for six more hours, its card refreshed every
    # 420 / 45 ≈ 9.3 minutes (the 7th step is crossed in minute 66).
    assert await sandbox.bot.refresh_money_at_stake() == 1
    await settle(sandbox)
    slots = next(c for c in incident_channels(sandbox) if "slots" in c["name"])
    assert "£7.9K at risk so far · 5 h 54 min left of a 7 h window" in money_line(sandbox, slots)
