"""ServiceNow stops accepting the bot's own credentials while it runs: HTTP 401 on every call, because the integration
user's password expired or was changed (ServiceNow's password policies make that common) or the user was locked out.
The tickets wait instead of dying, each with its own alert: the operators are told once, in words saying what to do
(an ERROR line, one alert in their channel, /readyz's `servicenow`, a gauge), the bot stays ready, and once ServiceNow
accepts the credentials again its lane goes on by itself and every ticket is made and synced once. A 403 (an ACL on a
table or a field) stays the call's own failure."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

from bot.app.runtime import Bot
from bot.catalogue import Catalogue
from sandbox.faults import Fault
from sandbox.world import SERVICENOW_USER, RunningSandbox
from tests.e2e.sandbox_helpers import alerts_pending, eventually, messages, move_clock, state
from tests.e2e.servicenow_helpers import bot_notes, note_lines, settle_all, ticket_for, tickets
from tests.helpers import rows

CREDENTIALS_LOG = "bot.adapters.servicenow.credentials"


async def get(running: RunningSandbox, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(running.url + path) as response:
        return response.status, await (response.json() if response.content_type == "application/json"
                                       else response.text())


def outbox(running: RunningSandbox, kind: str) -> list[dict[str, Any]]:
    return rows(running.bot.settings.db_path,
                "SELECT incident_id, state, attempts, credentials_refusals FROM outbox WHERE kind=? ORDER BY seq",
                (kind,))


def ops_lines(running: RunningSandbox) -> list[str]:
    ops = next(c for c in state(running)["slack"]["channels"] if c["name"] == "paved-road-ops")
    return [m["text"] for m in messages(running, ops["id"])]


async def slack_work_done(running: RunningSandbox, incident_ids: list[str], within: float = 20.0) -> None:
    """While ServiceNow's lane waits `bot.settle` cannot finish: wait for the inbox, the incidents' Slack work and the
    operators' alerts."""
    store = running.bot.store
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await running.sandbox.pagerduty.drain_webhooks()
        queues = [f"slack:{incident_id}" for incident_id in incident_ids]
        if (await store.depths())["inbox_pending"] == 0 and alerts_pending(running) == 0 and not any(
                [await store.pending_in_queue(queue) for queue in queues]):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"Slack work for {incident_ids} did not finish within {within}s")


def gauge(metrics: str) -> str:
    return next(line for line in metrics.splitlines() if line.startswith("pavedroad_servicenow_credentials_refused "))


async def test_tickets_wait_while_servicenow_refuses_the_credentials_and_are_made_once_it_accepts_them(
        sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture) -> None:
    # The integration user's password expired: ServiceNow answers 401 to everything for ten minutes, until an admin
    # sets it again.
    sandbox.sandbox.faults.add(Fault("servicenow", "*", status=401, until=sandbox.sandbox.clock.timestamp() + 600))
    with caplog.at_level(logging.INFO, logger="bot"):
        first = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET")
        second = await sandbox.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
        ids = [first["id"], second["id"]]
        await slack_work_done(sandbox, ids)
        await eventually(lambda: any("ServiceNow refuses" in line for line in ops_lines(sandbox)))
        status, ready = await get(sandbox, "/readyz")
        metrics = (await get(sandbox, "/metrics"))[1]
        waiting = outbox(sandbox, "open_ticket")
        refused_at = len(caplog.records)

        # Nothing is dead, nothing is made in ServiceNow; the tickets wait, their refusal not counted as an attempt.
        assert ready["outbox_dead"] == 0 and ready["dead_effects"] == []
        assert tickets(sandbox) == []
        assert {row["incident_id"] for row in waiting} == set(ids)
        assert {row["state"] for row in waiting} == {"pending"}
        assert all(row["attempts"] == row["credentials_refusals"] for row in waiting), waiting
        # Said once, however many of ServiceNow's calls were refused: one ERROR, one alert naming the fix.
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        [error] = errors
        assert (f"ServiceNow refuses the credentials of its integration user {SERVICENOW_USER} (SERVICENOW_USERNAME), "
                "HTTP 401 on ") in error
        assert "SERVICENOW_PASSWORD" in error and "restart the bot" in error and "none is dropped" in error
        [alert] = [line for line in ops_lines(sandbox) if "ServiceNow" in line]
        assert "SERVICENOW_PASSWORD" in alert and SERVICENOW_USER in alert and "none is dropped" in alert
        # Shown, and the bot stays ready: PagerDuty's webhooks, Slack's work and the incidents carry on.
        assert status == 200 and ready["ready"] is True
        refusal = ready["servicenow"]
        assert refusal["credentials"] == "refused" and refusal["status"] == 401
        assert refusal["seen_on"].startswith(("GET incident", "POST incident")) and refusal["since"]
        assert "SERVICENOW_PASSWORD" in refusal["fix"]
        assert gauge(metrics) == "pavedroad_servicenow_credentials_refused 1.0"

        # The admin sets the password again: at its next look the bot finds it accepted, and the tickets go on.
        await move_clock(sandbox, advance_seconds=601)
        await eventually(lambda: sandbox.bot.servicenow_credentials is not None
                         and sandbox.bot.servicenow_credentials.refused is None)
        await settle_all(sandbox)
        ready_again: dict[str, Any] = dict(await sandbox.bot.readiness())
        metrics_again = (await get(sandbox, "/metrics"))[1]
    for incident in (first, second):
        ticket = ticket_for(sandbox, incident["id"])
        lines = note_lines(bot_notes(ticket))
        assert sum(line.startswith("Triggered") for line in lines) == 1, lines
        assert len(lines) == len(set(lines)), lines  # no note sent twice
    assert len(tickets(sandbox)) == 2
    assert {row["state"] for row in outbox(sandbox, "open_ticket")} == {"done"}
    assert ready_again["outbox_dead"] == 0 and ready_again["servicenow"] == {"credentials": "accepted"}
    assert gauge(metrics_again) == "pavedroad_servicenow_credentials_refused 0.0"
    said = [(r.levelname, r.getMessage()) for r in caplog.records[refused_at:] if r.name == CREDENTIALS_LOG]
    assert [level for level, _ in said] == ["INFO"], said
    assert "ServiceNow accepts" in said[0][1]
    assert len([line for line in ops_lines(sandbox) if "ServiceNow" in line]) == 1  # no second alert


async def test_a_403_is_that_calls_failure_and_pauses_nothing(sandbox: RunningSandbox,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # An ACL refuses the bot one ticket's creation: that effect fails as before (dead, with its own alert); the next
    # incident's ticket is made at once, and nobody is told the credentials are refused.
    sandbox.sandbox.faults.add(Fault("servicenow", "POST /api/now/table/incident", status=403, times=1))
    with caplog.at_level(logging.INFO, logger="bot"):
        first = await sandbox.sandbox.pagerduty.trigger(title="Basket totals are wrong", service_id="PBASKET")
        await settle_all(sandbox)
        second = await sandbox.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
        await settle_all(sandbox)
    ready: dict[str, Any] = dict(await sandbox.bot.readiness())
    [dead] = ready["dead_effects"]
    assert (dead["kind"], dead["incident_id"]) == ("open_ticket", first["id"]) and "HTTP 403" in dead["last_error"]
    assert ready["servicenow"] == {"credentials": "accepted"}
    assert ticket_for(sandbox, second["id"])["short_description"]
    assert not [r for r in caplog.records if r.name == CREDENTIALS_LOG]
    assert not any("ServiceNow refuses" in line for line in ops_lines(sandbox))
    metrics = (await get(sandbox, "/metrics"))[1]
    assert gauge(metrics) == "pavedroad_servicenow_credentials_refused 0.0"


async def test_two_replicas_tell_the_operators_once(sandbox: RunningSandbox, catalogue: Catalogue) -> None:
    """Found in review of session 20: each replica keeps its own view of the refusal, and each told the operators."""
    other = Bot(sandbox.bot.settings, catalogue, clock=sandbox.bot.clock, replica_id="second-replica")
    await other.start()
    try:
        sandbox.sandbox.faults.add(Fault("servicenow", "*", status=401, until=sandbox.sandbox.clock.timestamp() + 600))
        for n in range(6):
            await sandbox.sandbox.pagerduty.trigger(title=f"Checkout broken {n}", service_id="PBASKET")
        for bot in (sandbox.bot, other):
            await eventually(lambda bot=bot: bot.servicenow_credentials is not None  # type: ignore[misc]
                             and bot.servicenow_credentials.refused is not None, within=20)
        await asyncio.sleep(1)
        await eventually(lambda: any("ServiceNow refuses" in line for line in ops_lines(sandbox)))
        await asyncio.sleep(1)
        assert len([line for line in ops_lines(sandbox) if "ServiceNow refuses" in line]) == 1
    finally:
        await other.stop()
