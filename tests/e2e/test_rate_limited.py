"""Outside services rate-limiting the bot lose nothing: the sandbox's emulators answer 429 with each service's own
headers (Slack's Retry-After, PagerDuty's ratelimit-reset, ServiceNow's Retry-After), the adapters report a refusal
for rate limiting apart from every other failure, and the outbox waits as told without counting it as an attempt —
until it has been refused for an hour, when the operators are told so in plain words."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import IntegrationError
from sandbox.faults import Fault
from sandbox.world import RunningSandbox
from tests.e2e.sandbox_helpers import (
    card,
    channel_id,
    eventually,
    incident_channels,
    messages,
    move_clock,
    settle,
    trigger,
)
from tests.helpers import FAST_RETRIES, StartSandbox


def operators_lines(running: RunningSandbox) -> list[str]:
    return [m["text"] for m in messages(running, channel_id(running, "paved-road-ops"))]


def openings_counted(running: RunningSandbox) -> dict[str, float]:
    """pavedroad_effects_total for the channels' openings, by outcome, as /metrics shows it."""
    family = next(f for f in text_string_to_metric_families(running.bot.metrics.render().decode())
                  if f.name == "pavedroad_effects")
    return {s.labels["outcome"]: s.value for s in family.samples
            if s.name == "pavedroad_effects_total" and s.labels["kind"] == "open_incident_channel"}


async def test_slack_refusing_more_often_than_the_attempts_allowed_loses_nothing(start_sandbox: StartSandbox) -> None:
    # An incident storm's pace: Slack answers the channel's creation 429 (Retry-After: 0) more often than the retry
    # policy allows attempts, then lets it through.
    refusals = FAST_RETRIES.max_attempts + 3
    running = await start_sandbox(faults=[Fault("slack", "conversations.create", status=429, times=refusals,
                                                retry_after=0)])
    await trigger(running, "Checkout returns 500s")
    [channel] = incident_channels(running)
    assert card(running, channel)["blocks"]
    assert openings_counted(running) == {"rate_limited": refusals, "done": 1}
    assert (await running.bot.readiness())["dead_effects"] == []
    assert not [line for line in operators_lines(running) if "🚨" in line]


async def test_slack_refusing_for_an_hour_ends_in_one_alert_saying_so(start_sandbox: StartSandbox) -> None:
    running = await start_sandbox(faults=[Fault("slack", "conversations.create", status=429, times=10_000,
                                                retry_after=60)])
    await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    await eventually(lambda: openings_counted(running).get("rate_limited") == 1)
    assert operators_lines(running) == []  # refused, and waiting the minute Slack said
    await move_clock(running, advance_seconds=3_601)  # an hour of refusals: the next one is the last
    await eventually(lambda: any("gave up" in line for line in operators_lines(running)))
    # (The incident's timeline line, waiting behind the opening, may then fail on its own: an alert of its own.)
    [alert] = [line for line in operators_lines(running) if "rate-limited" in line]
    # Named as people know it (found in review of session 21: the bare PagerDuty id): its number and title.
    assert re.match(r"🚨 Paved Road gave up trying to open incident channel for incident #\d+ \(Checkout returns "
                    r"500s; Q\w+\): ", alert), alert
    assert ": Slack refused it as rate-limited (HTTP 429, \"too many requests\") for 60 minutes, since " in alert
    assert "check what spends the same Slack budget" in alert
    assert openings_counted(running) == {"rate_limited": 1, "dead": 1}
    dead_effects = (await running.bot.readiness())["dead_effects"]
    assert isinstance(dead_effects, list)
    [dead] = dead_effects
    assert (dead["kind"], dead["last_error"]) == ("open_incident_channel",
                                                  "slack: conversations.create failed: ratelimited")
    assert incident_channels(running) == []


@pytest.mark.parametrize("status", [429, 503])
async def test_each_adapter_tells_a_refusal_for_rate_limiting_from_an_outage(start_sandbox: StartSandbox,
                                                                             status: int) -> None:
    running = await start_sandbox()
    await settle(running)
    faults = running.sandbox.faults
    bot = running.bot
    assert bot.tickets is not None
    # PagerDuty's client asks once more after a 429 (bot/adapters/pagerduty/client.py): both are refused.
    for service, method, times in (("slack", "chat.postMessage", 1), ("pagerduty", "/users", 2),
                                   ("servicenow", "/api/now/table/incident", 1)):
        faults.add(Fault(service, method, status=status, times=times, retry_after=7))
    refused: list[IntegrationError] = []
    for call in (bot.chat.post_message(channel_id(running, "team-basket"), "Checkout is slow"),
                 bot.paging.user("PLH1HKV"), bot.tickets.find("PGR0VU2")):
        with pytest.raises(IntegrationError) as caught:
            await call
        refused.append(caught.value)
    assert [(e.service, e.retryable, e.rate_limited) for e in refused] == [
        ("slack", True, status == 429), ("pagerduty", True, status == 429), ("servicenow", True, status == 429)]
    # The wait each service asked for (a 503 from the emulators says none).
    assert [e.retry_after for e in refused] == [7.0, 7.0, 7.0] if status == 429 else [None, None, None]
