"""The one way this project builds a PagerDuty REST client (the `pagerduty` package's RestApiV2Client).

Every door into PagerDuty — paging (`paging.py`), provisioning (`admin.py`) and the history import
(`history_import.py`) — starts here, so the client's settings and the plain-http allowance for the sandbox live in
one place.
"""

from __future__ import annotations

import pagerduty


def rest_client(token: str, base_url: str | None, *, timeout: int | None = None,
                quick_retries: bool = True, sleep_seconds: float = 0.25) -> pagerduty.RestApiV2Client:
    """A client for `base_url` (PagerDuty's own when None). The client insists on https; only the sandbox's emulator
    on loopback is plain http, so such a URL is set on the client directly (a real PagerDuty is always https).
    With `quick_retries` the client tries a rate-limited call once more and never retries a network error: the
    callers (the outbox, provisioning) do the patient retries. Without, the client's own defaults stand."""
    secure = base_url is None or base_url.startswith("https://")
    client = pagerduty.RestApiV2Client(token, base_url=base_url if secure else None)
    if not secure:
        client._url = base_url
    if quick_retries:
        client.retry = {429: 1}
        client.sleep_timer = sleep_seconds
        client.max_network_attempts = 0
    if timeout is not None:
        client.timeout = int(timeout)
    return client
