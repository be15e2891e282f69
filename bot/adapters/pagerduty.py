"""PagerDuty adapter: the Paging port over the `pagerduty` package's RestApiV2Client (pdpyras's successor).

The client is synchronous (httpx), so every call runs on a small dedicated thread pool, never on the event loop.
Its own retry loop is turned down (one quick retry on 429) because retries belong to the outbox, which remembers
what was done; errors become IntegrationError carrying PagerDuty's error code (e.g. 1001 already resolved).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx2
import pagerduty

from bot.errors import IntegrationError
from bot.metrics import Metrics
from bot.ports import PagingUser

T = TypeVar("T")


class PagerDutyPaging:
    def __init__(self, token: str, base_url: str | None, metrics: Metrics, threads: int = 4,
                 timeout: int = 10) -> None:
        secure = base_url is None or base_url.startswith("https://")
        self.client = pagerduty.RestApiV2Client(token, base_url=base_url if secure else None)
        if not secure:
            # The client insists on https; the sandbox's emulator is plain http on loopback. Only the sandbox and
            # tests set an http URL (check-config rejects nothing here because a real PagerDuty is always https).
            self.client._url = base_url
        self.client.retry = {429: 1}  # one short retry; the outbox does the patient ones
        self.client.sleep_timer = 0.25
        self.client.max_network_attempts = 0
        self.client.timeout = int(timeout)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pagerduty")
        self._metrics = metrics

    async def _call(self, label: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, fn)
        except pagerduty.HttpError as error:
            raise self._translate(label, error) from None
        except (pagerduty.Error, httpx2.HTTPError) as error:
            self._metrics.calls.labels("pagerduty", label, "network_error").inc()
            raise IntegrationError("pagerduty", f"{label}: could not reach PagerDuty ({error.__class__.__name__})",
                                   retryable=True) from None
        self._metrics.calls.labels("pagerduty", label, "ok").inc()
        return result

    def _translate(self, label: str, error: Any) -> IntegrationError:
        response = error.response
        status = response.status_code
        body: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            body = (response.json() or {}).get("error") or {}
        code = str(body.get("code")) if body.get("code") is not None else str(status)
        message = str(body.get("message") or f"HTTP {status}")
        details = "; ".join(str(e) for e in body.get("errors") or [])
        reset = response.headers.get("ratelimit-reset")
        self._metrics.calls.labels("pagerduty", label, str(status)).inc()
        return IntegrationError("pagerduty", f"{label}: {message}" + (f" ({details})" if details else ""),
                                retryable=status == 429 or status >= 500, code=code, status=status,
                                retry_after=float(reset) if reset and reset.replace(".", "").isdigit() else None)

    async def user(self, user_id: str) -> PagingUser | None:
        try:
            data = await self._call("GET /users/{id}", lambda: self.client.rget(f"/users/{user_id}"))
        except IntegrationError as error:
            if error.status == 404:
                return None
            raise
        assert isinstance(data, dict)
        return PagingUser(id=str(data["id"]), name=str(data.get("name") or data["id"]), email=str(data.get("email")))

    async def close(self) -> None:
        # The client is an httpx Client underneath: close its connection pool.
        await asyncio.get_running_loop().run_in_executor(self._executor, httpx2.Client.close, self.client)
        self._executor.shutdown(wait=False, cancel_futures=True)
