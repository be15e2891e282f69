"""Slack adapter: what a failed Web API call means, as one IntegrationError (shared by chat.py and interactions.py).

Slack answers JSON carrying `ok` and, on failure, its own `error` code. Whatever stands in front of it (a proxy, a
load balancer, Slack's edge) may answer with an HTML or plain-text page instead, and slack_sdk hands such an answer
on in three shapes, none of them its usual one:

- a page labelled text/html (or anything but JSON and text/plain): a SlackApiError whose response data is `{}`;
- a page labelled text/plain: a SlackApiError whose response data is the page as a `str` — or, when the status is
  200, an AttributeError from the SDK's own check, which calls `.get` on that `str`;
- a body labelled application/json that does not parse: a SlackApiError whose `response` is the raw aiohttp one.

Each becomes an IntegrationError saying what came back (status and content type; never the page itself), retryable
for 429 and 5xx as Slack's own failures are. Slack's answers refusing the token itself (identity.REFUSED: invalid_auth,
token_revoked, account_inactive, …, all with HTTP 200) are `credentials_refused`: the call is not at fault, and the
same call goes through once the token is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.adapters.slack.identity import REFUSED
from bot.errors import NOT_SENT, IntegrationError
from bot.ports import CANNOT_POST_THERE

RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})
NOT_JSON = "not_json"  # the metrics' label for an answer that was not Slack's JSON (Slack has no code for it)


def failure(method: str, error: SlackApiError, channel: object = None) -> IntegrationError:
    """The IntegrationError for a call slack_sdk reported as failed, whatever shape its answer came in; `channel`: the
    one the call named, if any."""
    response = error.response
    if isinstance(response, aiohttp.ClientResponse):  # labelled JSON, and did not parse
        return not_json(method, response.status, response.content_type, retry_after(response.headers))
    if response is None:
        return IntegrationError("slack", f"{method} failed with no answer from Slack", retryable=True)
    status: int = response.status_code
    data: Any = response.data
    headers: Mapping[str, str] = response.headers or {}
    if not isinstance(data, dict) or "ok" not in data:
        return not_json(method, status, _content_type(headers), retry_after(headers))
    code = str(data.get("error") or "unknown_error")
    # An answer about the channel the call named (bot.ports' CANNOT_POST_THERE: not found, the bot removed, archived,
    # refused there) names it too, so the operators' alert shows which one.
    named = f" (channel {'#' if str(channel)[:1].islower() else ''}{channel})" \
        if channel and code in CANNOT_POST_THERE else ""
    return IntegrationError("slack", f"{method} failed: {code}{named}", code=code, status=status,
                            retryable=code in RETRYABLE_ERRORS or _retryable_status(status),
                            retry_after=retry_after(headers), credentials_refused=code in REFUSED)


def plain_text_ok(method: str) -> IntegrationError:
    """slack_sdk's AttributeError: only a 200 labelled text/plain reaches the `.get` it fails on (see above)."""
    return not_json(method, 200, "text/plain", None)


def not_json(method: str, status: int, content_type: str, after: float | None) -> IntegrationError:
    what = ("application/json that does not parse" if content_type == "application/json"
            else content_type or "no content type")
    hint = ("; will retry" if _retryable_status(status)
            else "; check SLACK_API_URL (unset it for Slack itself)" if status == 404
            else "; something between the bot and Slack answered instead of Slack")
    return IntegrationError("slack", f"{method} failed: Slack answered {status} with {what}, not JSON (an error page "
                            f"from a proxy or from Slack's edge?){hint}", code=None, status=status,
                            retryable=_retryable_status(status), retry_after=after)


def unreachable(method: str, error: Exception) -> IntegrationError:
    # No connection made (refused, DNS): nothing was sent, so Slack did nothing (a timeout or a dropped connection
    # may have come after Slack acted).
    unsent = isinstance(error, aiohttp.ClientConnectorError)
    return IntegrationError("slack", f"{method} could not reach Slack: {error.__class__.__name__}", retryable=True,
                            code=NOT_SENT if unsent else None)


def retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after") if headers else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _retryable_status(status: int | None) -> bool:
    return status is not None and (status == 429 or status >= 500)


def _content_type(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return value.partition(";")[0].strip().lower()
