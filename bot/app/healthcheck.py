"""The container's health check (the Dockerfile's HEALTHCHECK): GET /healthz from the bot in this container.

`python -m bot.app.healthcheck` exits 0 when the bot on this host's `PORT` answers 200, and 1 otherwise, saying why
in one line. Standard library only, so that a check every half minute costs a few milliseconds and needs nothing the
slim image lacks (it has no curl). Liveness only: whether the bot can serve is /readyz's question (see runtime.py).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

from bot.app.config import read, tcp_port
from bot.errors import ConfigError

TIMEOUT_SECONDS = 3.0


def check(env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether the bot answers /healthz on 127.0.0.1:$PORT, and a line that says so."""
    try:
        port = read(env, "PORT") or "3000"
    except ConfigError as error:  # PORT_FILE unreadable: one line, as for any other unhealthy answer
        return False, "; ".join(error.problems)
    # The same reading as the bot's start-up check, so that the two never disagree about a port.
    if tcp_port(port) is None:
        return False, f"PORT: {port!r} is not a TCP port; the bot cannot be listening on it"
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:  # refused, timed out, reset: the process is not answering
        return False, f"{url}: no answer ({error})"
    return status == 200, f"{url}: {status}"


def main() -> int:
    healthy, line = check(os.environ)
    print(line, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
