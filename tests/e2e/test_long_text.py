"""Text that always fits, and markup that is always escaped (issue 11), end to end through the sandbox: a title far
past every Slack limit still gets its pinned card, a 200 KB note or status update is posted clipped (never a dead
effect), an html_url or a person's name carrying Slack markup puts no mention and no foreign link on the card, and
the sandbox refuses what Slack and ServiceNow refuse, so a render that overflowed would fail here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.catalogue import Catalogue
from bot.render.format import ENTRY_TEXT
from sandbox.slack.blocks import block_errors
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import act, card, deliver, incident_channels, messages, settle, state
from tests.helpers import StartSandbox, incident_event

ASHA = "asha.patel@example.com"
FULL_TITLE = "… (full title in PagerDuty)"
_LINK = re.compile(r"<([^<>|]*)(?:\|[^<>]*)?>")


def texts_in(value: Any) -> Iterator[str]:
    """Every text of a message or its blocks (a block's text objects, fields, elements, buttons)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from texts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item)


def slack_refusals(message: dict[str, Any]) -> list[str]:
    """What Slack would refuse in a posted message: its text over 40,000 characters, or its blocks (the emulator's
    own Block Kit checks: header 150, section 3,000, field 2,000, context 2,000, button 75, 50 blocks…)."""
    problems = [f"text of {len(message['text'])} characters"] if len(message["text"]) > 40_000 else []
    return problems + (block_errors(message["blocks"], "/blocks", 50) if message["blocks"] else [])


def everything_posted(running: RunningSandbox) -> list[dict[str, Any]]:
    return list(state(running)["slack"]["messages"])


def links(message: dict[str, Any]) -> list[str]:
    """Where the message's links, mentions and channel references point: `https://…`, `!channel`, `@U1`, `#C1`."""
    return [m.group(1) for text in texts_in(message) for m in _LINK.finditer(text)]


async def trigger_titled(running: RunningSandbox, title: str) -> dict[str, Any]:
    """Trigger through the sandbox's PagerDuty control route, as a monitoring alert would."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/pagerduty/incidents",
            json={"title": title, "service_id": "PBASKET"}) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 201, body
    await settle_all(running)
    incident: dict[str, Any] = body["incident"]
    return incident


async def settle_all(running: RunningSandbox) -> None:
    for _ in range(3):  # PagerDuty's webhooks, then ServiceNow's (the ticket's business rule) and the bot after each
        await running.sandbox.pagerduty.drain_webhooks()
        await running.sandbox.servicenow.drain_webhooks()
        await running.bot.settle(20)


# ----- a title far past every limit ----------------------------------------------------------------------------------

async def test_a_45000_character_title_gets_a_pinned_card_within_slack_limits(sandbox: RunningSandbox) -> None:
    title = "Checkout <fails> & refunds " + "x" * 45_000
    incident = await trigger_titled(sandbox, title)
    [channel] = incident_channels(sandbox)
    pinned = card(sandbox, channel)
    assert slack_refusals(pinned) == []
    header = pinned["blocks"][0]["text"]["text"]
    assert header.startswith(f"#{incident['incident_number']} Checkout <fails> & refunds xxx")  # plain text: as is
    assert header.endswith(FULL_TITLE) and len(header) == 150
    # The card's text (its notification) is escaped and clipped, and links the whole title in PagerDuty.
    assert pinned["text"].startswith(f"#{incident['incident_number']} Checkout &lt;fails&gt; &amp; refunds xxx")
    assert f"… (full title in <{incident['html_url']}|PagerDuty>)" in pinned["text"]
    assert [slack_refusals(m) for m in everything_posted(sandbox)] == [[] for _ in everything_posted(sandbox)]
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    # ServiceNow's ticket: the short description clipped by the bot (with its pointer), not cut by the database.
    [ticket] = state(sandbox)["servicenow"]["incidents"]
    assert ticket["short_description"].endswith(FULL_TITLE) and len(ticket["short_description"]) == 160
    assert len(ticket["description"]) <= 4_000 and incident["html_url"] in ticket["description"]


async def test_a_200_kb_note_and_status_update_are_posted_clipped_and_never_die(sandbox: RunningSandbox) -> None:
    incident = await trigger_titled(sandbox, "Checkout returns 500s")
    note = "Rolled back. " + "log line <&> " * 16_000  # ~200 KB, with markup characters all the way
    await act(sandbox, incident["id"], "note", user=ASHA, content=note)
    sandbox.sandbox.pagerduty.emit_event("incident.status_update_published", incident["id"], user_email=ASHA,
                                         text="Status: " + "still degraded " * 14_000)
    await settle_all(sandbox)
    await sandbox.bot.flush_work_notes()  # the scheduler's batch of work notes, now
    await settle_all(sandbox)
    [channel] = incident_channels(sandbox)
    lines = [m["text"] for m in messages(sandbox, channel["id"])]
    [noted] = [line for line in lines if "Note by Asha Patel: Rolled back." in line]
    [status] = [line for line in lines if "Status update by Asha Patel: Status: still degraded" in line]
    pointer = f"… (full text in <{incident['html_url']}|PagerDuty>)"
    for line in (noted, status):
        assert line.endswith(pointer) and len(line) < ENTRY_TEXT + 30
    assert "log line &lt;&amp;&gt;" in noted and "<&>" not in noted
    assert [slack_refusals(m) for m in everything_posted(sandbox)] == [[] for _ in everything_posted(sandbox)]
    assert (await sandbox.bot.readiness())["dead_effects"] == []
    # ServiceNow got the timeline too, each entry clipped the same way, the batch's marker intact.
    [ticket] = state(sandbox)["servicenow"]["incidents"]
    notes = "\n".join(n["value"] for n in ticket["work_notes"])
    assert "Note by Asha Patel: Rolled back." in notes and "… (full text in PagerDuty)" in notes
    assert len(notes) < 3 * ENTRY_TEXT


# ----- markup from outside -------------------------------------------------------------------------------------------

async def test_an_html_url_with_a_pipe_and_angle_brackets_puts_no_raw_channel_mention_or_foreign_link_on_the_card(
        sandbox: RunningSandbox) -> None:
    urls = {"QURL0001": "https://x.pagerduty.com/incidents/Q1|<!channel>", "QURL0002": "https://evil.example>click"}
    for number, (incident_id, url) in enumerate(urls.items(), start=950):
        event = incident_event("incident.triggered", incident_id=incident_id, number=number, title="Markup in a URL")
        event["event"]["data"]["html_url"] = url
        assert await deliver(sandbox, event) == 202
    await settle(sandbox)
    channels = incident_channels(sandbox)
    assert len(channels) == 2
    ours = {"x.pagerduty.com", urlsplit(sandbox.url).hostname}  # PagerDuty's page, and the sandbox's ServiceNow
    for channel in channels:
        for message in messages(sandbox, channel["id"]):
            assert "<!channel>" not in str(message), message
            for target in links(message):
                assert target[:1] in ("#", "@") or urlsplit(target).hostname in ours, target
    first = card(sandbox, next(c for c in channels if c["name"].startswith("inc-950")))
    assert "<https://x.pagerduty.com/incidents/Q1%7C%3C!channel%3E|Open in PagerDuty>" in str(first["blocks"])
    # Not a link at all: shown as code, escaped, where Slack makes no link of it.
    second = card(sandbox, next(c for c in channels if c["name"].startswith("inc-951")))
    assert "Open in PagerDuty `https://evil.example&gt;click`" in str(second["blocks"])
    team = next(c for c in state(sandbox)["slack"]["channels"] if c["name"] == "team-basket")
    for announcement in messages(sandbox, team["id"]):
        assert "<!channel>" not in announcement["text"] and "evil.example" not in str(links(announcement))
    assert (await sandbox.bot.readiness())["dead_effects"] == []


async def test_a_pagerduty_user_named_with_markup_is_escaped_in_could_not_find_in_slack(
        start_sandbox: StartSandbox, catalogue: Catalogue) -> None:
    # Fatima is on call for Basket in PagerDuty but not in Slack: the bot names her in the channel.
    assert catalogue.sandbox is not None
    marked = "Fatima <!channel> <https://evil.example|Noor> & co"
    people = [p.model_copy(update={"name": marked}) if p.email == "fatima.noor@example.com" else p
              for p in catalogue.sandbox.people]
    organisation = catalogue.model_copy(update={"sandbox": catalogue.sandbox.model_copy(update={"people": people})})
    running = await start_sandbox(organisation)
    await trigger_titled(running, "Checkout returns 500s")
    [channel] = incident_channels(running)
    [missing] = [m for m in messages(running, channel["id"]) if "Could not find" in m["text"]]
    assert "Could not find Fatima &lt;!channel&gt; &lt;https://evil.example|Noor&gt; &amp; co in Slack" in \
        missing["text"]
    assert links(missing) == []


# ----- the sandbox refuses what the real services refuse -------------------------------------------------------------

async def slack_api(running: RunningSandbox, method: str, **args: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(
            f"{running.url}/sandbox/slack/api/{method}", json=args,
            headers={"Authorization": f"Bearer {running.sandbox.keys.slack_bot_token}"}) as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def test_the_sandboxs_slack_refuses_what_slack_refuses_for_length(sandbox: RunningSandbox) -> None:
    def context(text: str) -> list[dict[str, Any]]:
        return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]
    fine = await slack_api(sandbox, "chat.postMessage", channel="team-basket", text="ok", blocks=context("x" * 2_000))
    assert fine["ok"], fine
    header = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
    for args, error in ((dict(text="x" * 40_001), "msg_too_long"),
                        (dict(text="ok", blocks=context("x" * 2_001)), "invalid_blocks"),
                        (dict(text="ok", blocks=[header]), "invalid_blocks"),
                        (dict(text="ok", blocks=[{"type": "divider"}] * 51), "invalid_blocks")):
        answer = await slack_api(sandbox, "chat.postMessage", channel="team-basket", **args)
        assert answer.get("error") == error, (args.keys(), answer)
    # A response URL takes what chat.postMessage takes.
    slack = sandbox.sandbox.slack
    user, channel = slack.resolve_user(ASHA), slack.find_channel("team-basket")
    assert user is not None and channel is not None
    interaction = slack.begin_interaction("command", user, channel)
    async with aiohttp.ClientSession() as session, session.post(
            f"{sandbox.url}/sandbox/slack/response/{interaction.id}", json={"text": "x" * 40_001}) as response:
        assert response.status == 400 and (await response.json())["error"] == "msg_too_long"


async def test_the_sandboxs_servicenow_cuts_a_short_description_to_its_column(sandbox: RunningSandbox) -> None:
    row = sandbox.sandbox.servicenow.create_incident({"short_description": "y" * 500, "description": "z" * 50_000})
    assert row["short_description"] == "y" * 160  # cut by the database, without a word: why the bot clips first
    assert len(row["description"]) == 50_000  # mediumtext: max_length is not enforced
