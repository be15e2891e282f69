"""The operators' alert for a dead effect shows the outside service's error text as it is: whatever a service answers
(its words reach us as they are: Slack's error code, ServiceNow's and PagerDuty's messages), the alert pings nobody,
links nowhere and formats nothing — read as the sandbox's Slack page renders the message."""

from __future__ import annotations

import html
import re

from sandbox.faults import Fault
from sandbox.ui.blockkit import Names, mrkdwn
from tests.e2e.sandbox_helpers import channel_id, eventually, messages
from tests.helpers import StartSandbox

HOSTILE = "<!channel> <https://evil.example|click> & *bold*"


async def test_a_dead_effects_alert_shows_the_services_words_literally_and_pings_nobody(
        start_sandbox: StartSandbox) -> None:
    # Slack answers the channel's creation with a refusal whose words are markup: not one retrying fixes, so the
    # opening is dead at once and the operators are alerted.
    running = await start_sandbox(faults=[Fault("slack", "conversations.create", status=200, error=HOSTILE)])
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    ops = channel_id(running, "paved-road-ops")

    def alerts() -> list[str]:
        return [m["text"] for m in messages(running, ops) if "open incident channel" in m["text"]]

    await eventually(lambda: bool(alerts()))
    [alert] = alerts()
    shown = mrkdwn(alert, Names(user=lambda _: None, channel=lambda _: None))
    assert 'class="mention"' not in shown  # no @channel, nor anyone
    assert "<a " not in shown and "<strong>" not in shown  # no link, no bold
    [code] = re.findall(r"<code>(.*?)</code>", shown)
    assert html.unescape(code) == f"slack: conversations.create failed: {HOSTILE}"
    assert incident["id"] in alert
