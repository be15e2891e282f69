"""PagerDuty out of reach: a request that never left (no connection could be made) is told apart from one whose
answer was lost, since only the second may have been carried out (a status update must then wait for PagerDuty's
webhook before it is published again; one never sent is simply retried)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from bot.adapters.pagerduty.paging import PagerDutyPaging
from bot.errors import NOT_SENT, IntegrationError
from bot.metrics import Metrics


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hangs_up() -> AsyncIterator[int]:
    """A server that reads the request, then closes the connection without an answer."""
    async def read_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()
    server = await asyncio.start_server(read_and_close, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


async def test_a_refused_connection_is_a_request_never_sent() -> None:
    paging = PagerDutyPaging("token", f"http://127.0.0.1:{closed_port()}", Metrics(), timeout=5)
    with pytest.raises(IntegrationError) as raised:
        await paging.publish_status_update("PINC1", "erin@example.com", "Rolling back")
    assert (raised.value.code, raised.value.status, raised.value.retryable) == (NOT_SENT, None, True)
    assert "could not reach PagerDuty" in str(raised.value)


async def test_an_answer_lost_after_the_request_went_is_not_said_to_be_unsent(hangs_up: int) -> None:
    paging = PagerDutyPaging("token", f"http://127.0.0.1:{hangs_up}", Metrics(), timeout=5)
    with pytest.raises(IntegrationError) as raised:
        await paging.publish_status_update("PINC1", "erin@example.com", "Rolling back")
    assert raised.value.code != NOT_SENT and raised.value.status is None and raised.value.retryable
