"""PagerDuty out of reach: a request that never left (no connection could be made) is told apart from one whose
answer was lost, since only the second may have been carried out (a status update must then wait for PagerDuty's
webhook before it is published again; one never sent is simply retried)."""

from __future__ import annotations

import pytest

from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.errors import NOT_SENT, IntegrationError
from bot.metrics import Metrics


async def test_a_refused_connection_is_a_request_never_sent(closed_port: int) -> None:
    paging = PagerDutyPaging("token", f"http://127.0.0.1:{closed_port}", Metrics(), timeout=5)
    with pytest.raises(IntegrationError) as raised:
        await paging.publish_status_update("PINC1", "erin@example.com", "Rolling back")
    assert (raised.value.code, raised.value.status, raised.value.retryable) == (NOT_SENT, None, True)
    assert "could not reach PagerDuty" in str(raised.value)


async def test_an_answer_lost_after_the_request_went_is_not_said_to_be_unsent(hangs_up: int) -> None:
    paging = PagerDutyPaging("token", f"http://127.0.0.1:{hangs_up}", Metrics(), timeout=5)
    with pytest.raises(IntegrationError) as raised:
        await paging.publish_status_update("PINC1", "erin@example.com", "Rolling back")
    assert raised.value.code != NOT_SENT and raised.value.status is None and raised.value.retryable
