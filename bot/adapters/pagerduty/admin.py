"""PagerDuty's REST API for provisioning: the `pagerduty` package's RestApiV2Client, with PagerDuty's rate limit
honoured and every failure turned into a `ProvisioningError` that says what PagerDuty answered.

Synchronous on purpose: `pavedroad provision` is a command-line run, not the bot's event loop. A 429 is retried a
few times after the `ratelimit-reset` PagerDuty sends (the client's own loop would sleep on a fixed timer instead);
a 5xx is not retried here, because apply stops, reports, and is resumed by running it again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pagerduty

from bot.adapters.pagerduty.client import rest_client
from bot.errors import ProvisioningError

Json = dict[str, Any]
_PAGE = 100


class PagerDutyRefused(ProvisioningError):
    """PagerDuty answered an error status. `retryable`: a rate limit or a server error, worth running again."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = status == 429 or status >= 500


class PagerDutyApi:
    def __init__(self, token: str, base_url: str | None, *, rate_limit_retries: int = 3,
                 max_wait_seconds: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 timeout: int = 30) -> None:
        # One quick retry in the client, then ours, which waits for the reset PagerDuty announces.
        self.client = rest_client(token, base_url, timeout=timeout, sleep_seconds=0.05)
        self.base_url = base_url or "https://api.pagerduty.com"
        self._rate_limit_retries = rate_limit_retries
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        self.requests = 0

    def close(self) -> None:
        # The client is an httpx Client underneath: close its connection pool.
        httpx2.Client.close(self.client)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Json | None = None) -> Json:
        """One call; the decoded answer ({} for 204). Raises PagerDutyRefused or ProvisioningError."""
        label = f"{method} {path}"
        for attempt in range(self._rate_limit_retries + 1):
            self.requests += 1
            try:
                response = self.client.request(method, path, params=params, json=body)
            except pagerduty.HttpError as error:  # the client raises on 401 itself
                if error.response is None:
                    raise ProvisioningError(f"{label}: {error}") from None
                response = error.response
            except (pagerduty.Error, httpx2.HTTPError) as error:
                raise ProvisioningError(f"{label}: could not reach PagerDuty at {self.base_url} "
                                        f"({error.__class__.__name__}); check PAGERDUTY_API_URL and the network") \
                    from None
            if response.status_code == 429 and attempt < self._rate_limit_retries:
                self._sleep(min(_reset_seconds(response), self._max_wait))
                continue
            break
        if response.is_success:
            if response.status_code == 204 or not response.content:
                return {}
            answer: Json = response.json()
            return answer
        raise PagerDutyRefused(_describe(label, response), response.status_code)

    def list(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[Json]:
        """Every item of a classic (offset) paginated list."""
        items: list[Json] = []
        offset = 0
        while True:
            page = self.request("GET", path, params={**(params or {}), "limit": _PAGE, "offset": offset})
            batch = page.get(key) or []
            items += batch
            if not page.get("more") or not batch:
                return items
            offset += len(batch)


def _reset_seconds(response: httpx2.Response) -> float:
    for header in ("ratelimit-reset", "Retry-After"):
        value = response.headers.get(header)
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, float(value))  # type: ignore[arg-type]
    return 1.0


def _describe(label: str, response: httpx2.Response) -> str:
    status = response.status_code
    error: Json = {}
    with contextlib.suppress(ValueError, AttributeError):
        error = response.json().get("error") or {}
    details = "; ".join(str(e) for e in error.get("errors") or [])
    message = str(error.get("message") or f"HTTP {status}")
    text = f"{label}: PagerDuty answered {status} {message}" + (f" ({details})" if details else "")
    if status == 401:
        text += ". PAGERDUTY_API_TOKEN was refused: use a REST API key (PagerDuty → Integrations → API Access Keys)"
    elif status == 403:
        text += ". The API key may be read-only: provisioning needs a full-access key"
    elif status == 429:
        text += ". PagerDuty's rate limit held after several waits"
    return text
