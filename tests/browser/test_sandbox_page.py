"""The sandbox page in real Chromium, as a newcomer uses it: trigger an incident from the PagerDuty panel, watch its
channel appear without reloading, acknowledge with the card's button, add a note from the message box, resolve through
the confirm dialog and the modal — and PagerDuty's state after each step. Elements are found by role, label and
placeholder, as a person and a screen reader would find them.

`UPDATE_SCREENSHOTS=1` rewrites the README's screenshot (docs/sandbox.png) from this run.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from playwright.async_api import Page, Route, expect

from bot.catalogue import Catalogue
from sandbox.pagerduty.model import Incident
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import eventually, trigger
from tests.helpers import StartSandbox

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sandbox.png"


def only_incident(running: RunningSandbox) -> Incident:
    incidents = list(running.sandbox.pagerduty.account.incidents.values())
    assert len(incidents) == 1, incidents
    return incidents[0]


async def test_a_newcomer_runs_an_incident_from_the_page(sandbox: RunningSandbox, page: Page) -> None:
    await page.goto(sandbox.url + "/")
    # Acting as the first person with both Slack and PagerDuty accounts.
    await expect(page.get_by_label("Acting as")).to_have_value(sandbox.sandbox.slack.resolve_user("asha.patel")
                                                               .id)  # type: ignore[union-attr]
    await expect(page.get_by_role("link", name=re.compile(r"inc-"))).to_have_count(0)

    trigger = page.get_by_role("form", name="Trigger an incident")
    await trigger.get_by_label("Title").fill("Checkout returns 500s")
    await trigger.get_by_label("Service").select_option(label="Checkout")
    await trigger.get_by_role("button", name="Trigger").click()

    # The channel appears in the sidebar without a reload, marked unread.
    channel_link = page.get_by_role("navigation", name="Channels").get_by_role(
        "link", name=re.compile(r"^#inc-\d+-checkout-returns-500s"))
    await expect(channel_link).to_be_visible()
    await expect(channel_link).to_have_class(re.compile("unread"))
    incident = only_incident(sandbox)
    assert incident.status == "triggered"
    await channel_link.click()
    channel_name = f"#inc-{incident.number}-checkout-returns-500s"
    log = page.get_by_role("log", name=f"Messages in {channel_name}")
    await expect(log.get_by_text("📌 Pinned")).to_be_visible()

    await log.get_by_role("button", name="Acknowledge").click()
    await eventually(lambda: incident.status == "acknowledged")
    asha = sandbox.sandbox.pagerduty.account.user_by_email("asha.patel@example.com")
    assert asha is not None and incident.acknowledgements[-1][1] == asha.id
    await expect(log.get_by_role("button", name="Acknowledge")).to_have_count(0)  # the card lost the button

    box = page.get_by_placeholder(f"Message {channel_name}")
    await box.fill("/incident note Rolled back the 10:02 deploy")
    await box.press("Enter")
    await eventually(lambda: any(n.content == "Rolled back the 10:02 deploy" and n.incident_id == incident.id
                                 for n in sandbox.sandbox.pagerduty.account.notes))
    await expect(log.get_by_text("Rolled back the 10:02 deploy").first).to_be_visible()
    await expect(page.get_by_role("banner").get_by_role("status")).to_have_text("")  # the command did not fail
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT))

    await log.get_by_role("button", name="Resolve").click()
    confirm = page.get_by_role("dialog", name="Resolve this incident?")
    await confirm.get_by_role("button", name="Yes").click()
    modal = page.get_by_role("dialog", name=f"Resolve #{incident.number}")
    await modal.get_by_label("Resolution note").fill("Rolled back to 4.2.0")
    await modal.get_by_role("button", name="Resolve").click()
    await eventually(lambda: incident.status == "resolved")
    assert incident.resolved_by == asha.id
    await expect(modal).to_have_count(0)

    # PagerDuty's side: only a note can be added to a resolved incident.
    panel = page.get_by_role("listitem", name=f"Incident #{incident.number}")
    await expect(panel.get_by_text("resolved", exact=True)).to_be_visible()
    await expect(panel.get_by_role("button")).to_have_text(["Add note"])


async def test_the_bots_refusal_in_a_modal_is_shown_in_the_form(start_sandbox: StartSandbox, catalogue: Catalogue,
                                                                page: Page) -> None:
    restricted = catalogue.model_copy(update={"permissions": catalogue.permissions.model_copy(
        update={"resolve": "responders"})})
    running = await start_sandbox(restricted)
    await trigger(running, "Checkout returns 500s", service_id="PCHECKO")
    incident = only_incident(running)
    dev = running.sandbox.slack.resolve_user("dev.sharma@example.com")
    channel = running.sandbox.slack.find_channel(f"inc-{incident.number}-checkout-returns-500s")
    assert dev is not None and channel is not None
    await page.goto(f"{running.url}/?as={dev.id}&channel={channel.id}")
    await expect(page.get_by_label("Acting as")).to_have_value(dev.id)

    await page.get_by_role("log").get_by_role("button", name="Resolve").click()
    await page.get_by_role("dialog", name="Resolve this incident?").get_by_role("button", name="Yes").click()
    modal = page.get_by_role("dialog", name=f"Resolve #{incident.number}")
    note = modal.get_by_label("Resolution note")
    await note.fill("Not mine to resolve")
    await modal.get_by_role("button", name="Resolve").click()
    await expect(modal.get_by_text(re.compile("responders and the incident managers may resolve"))).to_be_visible()
    await expect(note).to_have_value("Not mine to resolve")  # nothing typed is lost
    assert incident.status == "triggered"

    await modal.get_by_role("button", name="Cancel").click()
    await expect(modal).to_have_count(0)


async def test_the_report_chart_shows_inline_and_a_message_is_posted_as_the_person(sandbox: RunningSandbox,
                                                                                 page: Page) -> None:
    await page.goto(sandbox.url + "/")
    await page.get_by_role("navigation", name="Channels").get_by_role("link", name="#team-payments").click()
    box = page.get_by_placeholder("Message #team-payments")
    await box.fill("Morning all :wave:")
    await box.press("Enter")
    log = page.get_by_role("log", name="Messages in #team-payments")
    mine = log.get_by_role("article", name=re.compile("^Asha Patel"))
    await expect(mine.get_by_text("Morning all 👋")).to_be_visible()

    await box.fill("/incident report")
    await box.press("Enter")
    chart = log.get_by_role("img")
    await expect(chart).to_be_visible()
    assert await chart.evaluate("image => image.complete && image.naturalWidth > 0")  # the bytes are a real image
    [uploaded] = sandbox.sandbox.slack.files.files.values()
    assert await chart.get_attribute("src") == f"/sandbox/slack/files/{uploaded.id}"


async def test_the_clock_and_faults_panels_act_on_the_sandbox(sandbox: RunningSandbox, page: Page) -> None:
    await page.goto(sandbox.url + "/")
    before = sandbox.sandbox.clock.now()
    advance = page.get_by_role("form", name="Advance the clock")
    await advance.get_by_label("Advance by (minutes)").fill("90")
    await advance.get_by_role("button", name="Advance").click()
    await expect(page.get_by_role("banner").get_by_role("status")).to_have_text("Advance the clock: done")
    assert (sandbox.sandbox.clock.now() - before).total_seconds() >= 90 * 60

    faults = page.get_by_role("region", name="Faults")
    add = faults.get_by_role("form", name="Add a fault")
    await add.get_by_label("Service").select_option("pagerduty")
    await add.get_by_label("Method").fill("/incidents")
    await add.get_by_label("Times").fill("2")
    await add.get_by_role("button", name="Add fault").click()
    await expect(faults.get_by_role("listitem")).to_have_text(["pagerduty /incidents → 503, 2 more"])
    assert [(f["service"], f["times"]) for f in sandbox.sandbox.faults.snapshot()] == [("pagerduty", 2)]
    await faults.get_by_role("button", name="Clear faults").click()
    await expect(faults.get_by_role("listitem")).to_have_text(["No faults."])
    assert sandbox.sandbox.faults.snapshot() == []


async def test_a_channel_clicked_while_the_page_is_updating_opens(sandbox: RunningSandbox, page: Page) -> None:
    """The page asks the sandbox for its parts on every change; a click on a channel while such an answer is on its
    way (for the channel shown until then) must open the clicked channel, not be undone by that answer."""
    await page.goto(sandbox.url + "/")
    await expect(page.get_by_role("log", name="Messages in #incidents")).to_be_visible()
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_first(route: Route) -> None:
        if not held.is_set():  # the update under way as the click comes
            held.set()
            await release.wait()
        await route.continue_()
    await page.route("**/sandbox/ui/parts?*", hold_first)
    await page.get_by_label("Acting as").select_option(label="Ben Okafor")  # an update, for #incidents
    await held.wait()
    await page.get_by_role("navigation", name="Channels").get_by_role("link", name=re.compile("^#team-basket")).click()
    release.set()
    await expect(page.get_by_role("log", name="Messages in #team-basket")).to_be_visible()
    basket = sandbox.sandbox.slack.find_channel("team-basket")
    assert basket is not None
    await expect(page).to_have_url(re.compile(f"channel={basket.id}"))
