"""Whether a TCP port can be listened on, and a socket bound to one before anything is built on its address."""

from __future__ import annotations

import socket


def port_taken(port: int, host: str = "127.0.0.1") -> str | None:
    """Why `port` cannot be listened on (another process has it), or None when it is free; bound the way the
    sandbox (127.0.0.1) or `serve` (0.0.0.0) binds it, then let go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def bound_socket(port: int) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:`port` (0: any free port), for aiohttp's SockSite; OSError when it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock
