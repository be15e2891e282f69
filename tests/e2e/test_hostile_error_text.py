"""An outside service's error text, whatever it holds, never stops an effect's outcome being recorded: half an emoji
(a lone surrogate, which a JSON `\\ud800` escape decodes to) cannot be written as UTF-8, and PostgreSQL's text
cannot hold a NUL. Either, in the error text of a failure, once made the store refuse the outbox row's retry or
death: the effect sat leased until its lease ran out, failed the same way at every try, and nobody was told. The
text is made storable where it enters (IntegrationError, bot/domain/storable.py): the lone surrogate shows as
U+FFFD, the NUL is gone."""

from __future__ import annotations

from sandbox.faults import Fault
from tests.e2e.sandbox_helpers import channel_id, eventually, incident_channels, messages
from tests.helpers import StartSandbox, rows

HOSTILE = "half an emoji \ud800, a NUL \x00, and after them"
STORED = "half an emoji \ufffd, a NUL , and after them"


async def test_a_refusal_whose_words_cannot_be_stored_still_parks_the_effect_dead_and_alerts(
        start_sandbox: StartSandbox) -> None:
    # Slack refuses the channel's creation with words no store takes as they are: not a refusal retrying fixes, so
    # the opening is dead at once and the operators are alerted.
    running = await start_sandbox(faults=[Fault("slack", "conversations.create", status=200, error=HOSTILE)])
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    ops = channel_id(running, "paved-road-ops")

    def alerts() -> list[str]:
        return [m["text"] for m in messages(running, ops) if "open incident channel" in m["text"]]

    await eventually(lambda: bool(alerts()))
    [alert] = alerts()
    assert incident["id"] in alert and STORED in alert
    dead = rows(running.bot.settings.db_path, "SELECT kind, last_error FROM outbox WHERE state = 'dead'")
    assert dead == [{"kind": "open_incident_channel",
                     "last_error": f"slack: conversations.create failed: {STORED}"}]


async def test_a_failure_whose_words_cannot_be_stored_is_retried_as_any_other(start_sandbox: StartSandbox) -> None:
    # Slack fails twice (a 500 carrying its JSON with those words): tried again each time, the channel opens on the
    # third attempt — not once a lease has run out.
    running = await start_sandbox(faults=[Fault("slack", "conversations.create", status=500, times=2,
                                                error=HOSTILE)])
    await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()

    def opening() -> list[dict[str, object]]:
        return rows(running.bot.settings.db_path,
                    "SELECT state, attempts FROM outbox WHERE kind = 'open_incident_channel'")

    await eventually(lambda: opening() == [{"state": "done", "attempts": 3}])
    assert len(incident_channels(running)) == 1


async def test_servicenow_refusing_a_ticket_in_words_that_cannot_be_stored_ends_in_an_alert(
        start_sandbox: StartSandbox) -> None:
    # ServiceNow's JSON error body (`{"error": {"message", "detail"}}`) with those words in its detail: a 400 is not
    # retried, so opening the ticket is dead at once and the operators are alerted.
    running = await start_sandbox(faults=[Fault("servicenow", "POST /api/now/table/incident", status=400,
                                                error=HOSTILE)])
    incident = await running.sandbox.pagerduty.trigger(title="Checkout returns 500s", service_id="PBASKET")
    await running.sandbox.pagerduty.drain_webhooks()
    ops = channel_id(running, "paved-road-ops")

    def alerts() -> list[str]:
        return [m["text"] for m in messages(running, ops) if "open ticket" in m["text"]]

    await eventually(lambda: bool(alerts()))
    [alert] = alerts()
    assert incident["id"] in alert and STORED in alert
    dead = rows(running.bot.settings.db_path, "SELECT kind, last_error FROM outbox WHERE state = 'dead'")
    assert dead == [{"kind": "open_ticket", "last_error": f"servicenow: POST incident: HTTP 400 Bad Request: {STORED}"}]
