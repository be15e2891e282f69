"""A person archives a team channel where incidents without a channel of their own have their cards (and their
timelines, in the cards' threads). Slack then refuses every card refresh (`is_inactive`) and thread line
(`is_archived`). That is not a reopened incident whose own channel the bot archived: the card and its thread are kept
for when the channel is unarchived, no effect dies, and the operators are told once — not once per update and per
five-minute card refresh."""

from __future__ import annotations

from bot.catalogue import Catalogue
from bot.ports.store import SlackFootprint
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, messages, state, trigger
from tests.helpers import StartSandbox


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [str(m["text"]) for m in messages(running, ops["id"])]


def card_text(running: RunningSandbox, footprint: SlackFootprint) -> str:
    assert footprint.channel_id is not None
    [card] = [m for m in messages(running, footprint.channel_id) if m["ts"] == footprint.card_ts]
    return str(card["text"])


def thread_lines(running: RunningSandbox, channel_id: str, card_ts: str) -> list[str]:
    return [str(m["text"]) for m in messages(running, channel_id)
            if m["thread_ts"] == card_ts and m["ts"] != card_ts]


async def test_an_archived_team_channel_keeps_its_cards_and_the_operators_are_told_once(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Found in review of session 21: taken for a reopened incident, the card was forgotten, a new "channel" was
    opened in the same archived team channel, and every later update and refresh died with its own alert."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await running.bot.settle(30)
    before = await running.bot.store.footprint(incident["id"])
    assert before.card_ts is not None
    team = running.sandbox.slack.find_channel("team-basket")
    assert team is not None
    team.is_archived = True  # by a person

    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    await running.bot.settle(30)
    for _ in range(2):  # the five-minute card refresh, twice
        await running.bot.refresh_open_cards()
        await running.bot.settle(30)

    after = await running.bot.store.footprint(incident["id"])
    assert (after.channel_id, after.card_ts) == (before.channel_id, before.card_ts)
    assert await running.bot.store.dead_effects(incident["id"]) == []
    [told] = [line for line in ops_lines(running) if "archived" in line]
    assert "#team-basket is archived" in told and "Unarchive it" in told
    assert "Triggered" in card_text(running, after)  # the card as it was

    # Unarchived: the next change brings the card up to date.
    team.is_archived = False
    await act(running, incident["id"], "resolve", user="asha.patel@example.com")
    await running.bot.settle(30)
    assert "Resolved" in card_text(running, after)


async def test_an_incident_of_its_own_opens_its_channel_though_its_team_channel_is_archived(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Found in review of session 21: the announcement in the archived team channel failed the opening — an alert
    for each incident, and at the next refresh the incident was taken for one moved out of an archived channel."""
    running = await start_sandbox(catalogue)
    team = running.sandbox.slack.find_channel("team-basket")
    assert team is not None
    team.is_archived = True
    first = await trigger(running, "Checkout returns 500s", "PBASKET")
    second = await trigger(running, "Basket is slow", "PBASKET")
    await running.bot.settle(30)
    await running.bot.refresh_open_cards()
    await running.bot.settle(30)
    for incident in (first, second):
        footprint = await running.bot.store.footprint(incident["id"])
        assert footprint.channel_id is not None and footprint.card_pinned
        assert await running.bot.store.dead_effects(incident["id"]) == []
    [told] = [line for line in ops_lines(running) if "archived" in line]
    assert "#team-basket is archived" in told


async def test_a_new_incident_whose_team_channel_is_archived_has_its_card_in_the_default_channel(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    """Left alone in session 21: an incident without a channel of its own, triggered after its team channel was
    archived, had no card anywhere, and each of its timeline lines died with an operators' alert of its own. Its card
    now goes to the catalogue's default announce channel, its timeline into the card's thread there."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    team = running.sandbox.slack.find_channel("team-basket")
    assert team is not None
    team.is_archived = True  # by a person, before the incident
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await running.bot.settle(30)
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    await running.bot.settle(30)
    await running.bot.refresh_open_cards()
    await running.bot.settle(30)

    footprint = await running.bot.store.footprint(incident["id"])
    default = running.sandbox.slack.find_channel(policy.default_announce_channel)
    assert default is not None and footprint.channel_id == default.id and footprint.card_ts is not None
    assert "Acknowledged" in card_text(running, footprint)
    replies = [str(m["text"]) for m in state(running)["slack"]["messages"]
               if m["channel"] == default.id and m["thread_ts"] == footprint.card_ts and m["ts"] != footprint.card_ts]
    assert any("acknowledged" in line.lower() for line in replies), replies
    assert await running.bot.store.dead_effects(incident["id"]) == []
    [told] = [line for line in ops_lines(running) if "archived" in line]
    assert "#team-basket is archived" in told and f"#{policy.default_announce_channel}" in told


async def test_an_incident_of_its_own_is_announced_in_the_default_channel_when_its_team_channel_is_archived(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    running = await start_sandbox(catalogue)
    team = running.sandbox.slack.find_channel("team-basket")
    assert team is not None
    team.is_archived = True
    incident = await trigger(running, "Checkout returns 500s", "PBASKET")
    await running.bot.settle(30)
    footprint = await running.bot.store.footprint(incident["id"])
    default = running.sandbox.slack.find_channel(catalogue.channels.default_announce_channel)
    assert default is not None and footprint.announced_ts is not None
    assert any(m["ts"] == footprint.announced_ts for m in messages(running, default.id))


async def test_with_the_default_channel_archived_too_nothing_dies(start_sandbox: StartSandbox,
                                                                  catalogue: Catalogue) -> None:
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    for name in ("team-basket", policy.default_announce_channel):
        channel = running.sandbox.slack.find_channel(name)
        assert channel is not None
        channel.is_archived = True
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    await running.bot.refresh_open_cards()
    await running.bot.settle(30)
    assert (await running.bot.store.footprint(incident["id"])).card_ts is None
    told = [line for line in ops_lines(running) if "archived" in line]
    assert len(told) == 2 and any(f"#{policy.default_announce_channel} is archived" in line for line in told)


async def test_the_line_that_brings_a_card_back_is_posted_in_its_thread(start_sandbox: StartSandbox,
                                                                        catalogue: Catalogue) -> None:
    """Found in review of session 22 (it failed so before its fix). Both the team channel and the default announce
    channel archived when the incident is triggered: no card anywhere (as the commit intends). Someone unarchives the
    team channel; the incident is acknowledged. The acknowledgement's line runs first (before the card refresh) and
    posts the card through `_open_channel`, then reads the footprint from the store — where the card's ts is not yet
    (it is kept for the effect's outcome) — and returns: the "Acknowledged" line is never posted in the new card's
    thread."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    team = running.sandbox.slack.find_channel("team-basket")
    default = running.sandbox.slack.find_channel(policy.default_announce_channel)
    assert team is not None and default is not None
    team.is_archived = default.is_archived = True
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await running.bot.settle(30)
    assert (await running.bot.store.footprint(incident["id"])).card_ts is None

    team.is_archived = False  # unarchived by a person
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    await running.bot.settle(30)

    footprint = await running.bot.store.footprint(incident["id"])
    assert footprint.channel_id == team.id and footprint.card_ts is not None
    lines = thread_lines(running, team.id, footprint.card_ts)
    assert any("acknowledged" in line.lower() for line in lines), lines


async def test_the_default_channel_archived_under_a_fallen_back_card_is_told(start_sandbox: StartSandbox,
                                                                            catalogue: Catalogue) -> None:
    """Found in review of session 22 (it failed so before its fix). A card that went to the default announce channel
    (its team channel archived) has its refreshes and lines refused once the default channel is archived too.
    `unless_archived` → `_team_channel_unusable(incident, code)` names the incident's *team* channel (not the one its
    card is in) and dedups on the team channel's key, already used when the card fell back: the operators never hear
    that #<default> is archived, and the cards there stop changing without a word."""
    policy = catalogue.channels.model_copy(update={"dedicated_channel_for": "high_urgency"})
    running = await start_sandbox(catalogue.model_copy(update={"channels": policy}))
    team = running.sandbox.slack.find_channel("team-basket")
    default = running.sandbox.slack.find_channel(policy.default_announce_channel)
    assert team is not None and default is not None
    team.is_archived = True
    incident = await trigger(running, "Slow basket page", "PBASKET", urgency="low")
    await running.bot.settle(30)
    footprint = await running.bot.store.footprint(incident["id"])
    assert footprint.channel_id == default.id and footprint.card_ts is not None

    default.is_archived = True  # later, by a person
    await act(running, incident["id"], "acknowledge", user="asha.patel@example.com")
    await running.bot.settle(30)
    assert await running.bot.store.dead_effects(incident["id"]) == []
    told = [line for line in ops_lines(running) if "archived" in line]
    assert any(f"#{policy.default_announce_channel} is archived" in line for line in told), told
