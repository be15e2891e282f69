"""Servers for the adapters' tests of an outside system out of reach: a port nobody listens on (the connection is
refused: nothing was sent), and one that reads the request and hangs up (the answer is lost after it went)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest


@pytest.fixture
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
