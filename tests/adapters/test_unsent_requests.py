"""Slack and ServiceNow out of reach: a request that never left (no connection could be made, or the bot stopping)
is told apart from one whose answer was lost, as PagerDuty's are (tests/adapters/test_pagerduty_unreachable.py):
only the second may have been carried out (`IntegrationError.outcome_unknown`)."""

from __future__ import annotations

import pytest

from bot.adapters.servicenow.tickets import ServiceNowTickets
from bot.adapters.slack.chat import SlackChat
from bot.app.config import ServiceNowAccess
from bot.errors import NOT_SENT, IntegrationError
from bot.metrics import Metrics


def servicenow(port: int) -> ServiceNowTickets:
    return ServiceNowTickets(ServiceNowAccess(f"http://127.0.0.1:{port}", "bot", "secret", None), Metrics(),
                             timeout=5)


async def test_slack_refusing_the_connection_is_a_request_never_sent(closed_port: int) -> None:
    chat = SlackChat("xoxb-test", f"http://127.0.0.1:{closed_port}/api/", Metrics(), timeout=5)
    try:
        with pytest.raises(IntegrationError) as raised:
            await chat.create_channel("inc-1-checkout")
    finally:
        await chat.close()
    assert raised.value.code == NOT_SENT and not raised.value.outcome_unknown


async def test_slack_hanging_up_after_the_request_went_may_have_acted(hangs_up: int) -> None:
    chat = SlackChat("xoxb-test", f"http://127.0.0.1:{hangs_up}/api/", Metrics(), timeout=5)
    try:
        with pytest.raises(IntegrationError) as raised:
            await chat.create_channel("inc-1-checkout")
    finally:
        await chat.close()
    assert raised.value.code != NOT_SENT and raised.value.outcome_unknown


async def test_servicenow_refusing_the_connection_is_a_request_never_sent(closed_port: int) -> None:
    tickets = servicenow(closed_port)
    try:
        with pytest.raises(IntegrationError) as raised:
            await tickets.update("sys-1", {"work_notes": "Rolled back"})
    finally:
        await tickets.close()
    assert raised.value.code == NOT_SENT and not raised.value.outcome_unknown
    # Stopping: nothing is sent any more, and says so.
    with pytest.raises(IntegrationError) as stopping:
        await tickets.update("sys-1", {"work_notes": "Rolled back"})
    assert stopping.value.code == NOT_SENT and not stopping.value.outcome_unknown


async def test_servicenow_hanging_up_after_the_request_went_may_have_acted(hangs_up: int) -> None:
    tickets = servicenow(hangs_up)
    try:
        with pytest.raises(IntegrationError) as raised:
            await tickets.update("sys-1", {"work_notes": "Rolled back"})
    finally:
        await tickets.close()
    assert raised.value.code != NOT_SENT and raised.value.outcome_unknown
