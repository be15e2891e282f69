"""A team channel Slack cannot find for the bot: renamed in Slack (the catalogue still names the old name), deleted,
or private without the bot in it (`channel_not_found`). A team's channel is renamed often; the catalogue lags behind.
Then an incident without a channel of its own had no card anywhere (its opening dead, an operators' alert per
incident), and an incident with one had its opening die at the announcement (an alert per incident, and the channel
taken for unopened at every refresh). Now the card or the announcement goes to the default announce channel, and the
operators are told once a day what to fix."""

from __future__ import annotations

from bot.catalogue import Catalogue
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, channel_id, messages, state, trigger
from tests.helpers import StartSandbox


async def renamed(start_sandbox: StartSandbox, catalogue: Catalogue, *,
                  dedicated_for: str | None = None) -> RunningSandbox:
    """The sandbox, its catalogue naming #team-basket, which someone has renamed #basket-squad in Slack."""
    if dedicated_for is not None:
        channels = catalogue.channels.model_copy(update={"dedicated_channel_for": dedicated_for})
        catalogue = catalogue.model_copy(update={"channels": channels})
    running = await start_sandbox(catalogue)
    book = running.sandbox.slack.channels
    channel = book.pop(channel_id(running, "team-basket"))
    channel.name = "basket-squad"
    book[channel.id] = channel
    return running


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [str(m["text"]) for m in messages(running, ops["id"])]


async def test_a_card_whose_team_channel_is_not_found_goes_to_the_default_channel(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    running = await renamed(start_sandbox, catalogue, dedicated_for="high_urgency")
    first = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    second = await trigger(running, "Basket images missing", "PBASKET", urgency="low")
    await act(running, first["id"], "acknowledge", user="asha.patel@example.com")
    await running.bot.refresh_open_cards()
    await running.bot.settle(30)

    default = running.sandbox.slack.find_channel(catalogue.channels.default_announce_channel)
    assert default is not None
    for incident in (first, second):
        footprint = await running.bot.store.footprint(incident["id"])
        assert footprint.channel_id == default.id and footprint.card_ts is not None
        assert await running.bot.store.dead_effects(incident["id"]) == []
    [told] = [line for line in ops_lines(running) if "team-basket" in line]
    assert "renamed" in told and "slack_channel" in told and f"#{catalogue.channels.default_announce_channel}" in told


async def test_an_incident_of_its_own_is_announced_in_the_default_channel(start_sandbox: StartSandbox,
                                                                           catalogue: Catalogue) -> None:
    running = await renamed(start_sandbox, catalogue)
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    await running.bot.refresh_open_cards()
    await running.bot.settle(30)
    footprint = await running.bot.store.footprint(incident["id"])
    default = running.sandbox.slack.find_channel(catalogue.channels.default_announce_channel)
    assert default is not None and footprint.card_pinned and footprint.announced_ts is not None
    assert any(m["ts"] == footprint.announced_ts for m in messages(running, default.id))
    assert await running.bot.store.dead_effects(incident["id"]) == []
    assert len([line for line in ops_lines(running) if "team-basket" in line]) == 1


async def test_an_operators_channel_slack_cannot_find_has_its_alerts_in_the_default_channel(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """The operators' channel renamed in Slack: every operators' alert died (an alert about an alert is not sent), and
    nobody heard of anything — the log only."""
    running = await renamed(start_sandbox, catalogue, dedicated_for="high_urgency")
    book = running.sandbox.slack.channels
    ops = book.pop(channel_id(running, "paved-road-ops"))
    ops.name = "platform-alerts"
    book[ops.id] = ops
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await running.bot.settle(30)
    default = running.sandbox.slack.find_channel(catalogue.channels.default_announce_channel)
    assert default is not None
    [told] = [str(m["text"]) for m in messages(running, default.id) if "team-basket" in str(m["text"])]
    assert "#paved-road-ops" in told and "operators_channel" in told, told
    assert await running.bot.store.dead_effects(f"{incident['id']}") == []
    assert (await running.bot.readiness())["dead_effects"] == []
