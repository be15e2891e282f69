"""Backfilling the incident history from PagerDuty's REST API, so reports work from the day the bot is installed.

`GET /incidents?statuses[]=resolved&since&until` in windows of at most 180 days (PagerDuty's maximum range for that
list), each incident's log entries for its first acknowledgement (a resolved incident's `acknowledgements` are
empty), and `GET /change_events` for deploys. Synchronous (the `pagerduty` client is): the CLI calls it directly,
the running sandbox on a worker thread. Incidents the bot already knows are kept as the bot recorded them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pagerduty

from bot.adapters.pagerduty.client import rest_client
from bot.domain.incident import Incident, Status
from bot.ports.incident_history import DeployRecord, History
from bot.ports.report_aggregates import HistoryError

MAX_WINDOW = timedelta(days=180)


def client_for(token: str, base_url: str | None = None) -> pagerduty.RestApiV2Client:
    return rest_client(token, base_url, quick_retries=False)  # a one-off import: the client's own retries


def windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of at most MAX_WINDOW."""
    while start < end:
        stop = min(start + MAX_WINDOW, end)
        yield start, stop
        start = stop


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def fetch_history(client: pagerduty.RestApiV2Client, start: datetime, end: datetime) -> History:
    try:
        return _fetch(client, start, end)
    except pagerduty.HttpError as error:
        response = error.response
        if response is None:
            raise HistoryError(f"PagerDuty could not be read: {error}") from None
        status = response.status_code
        hint = {401: "PagerDuty refused the API key: check PAGERDUTY_API_TOKEN",
                403: "the API key may not read incidents or change events: use a full-access REST API key",
                429: "PagerDuty's rate limit: try again in a minute, or import a shorter period"}.get(status, "")
        raise HistoryError(f"PagerDuty answered HTTP {status} to {response.request.url.path}"
                           + (f" — {hint}" if hint else "")) from None
    except (pagerduty.Error, httpx2.HTTPError) as error:
        raise HistoryError(f"could not reach PagerDuty ({error.__class__.__name__}): check PAGERDUTY_API_URL "
                           "and the network") from None


def _fetch(client: pagerduty.RestApiV2Client, start: datetime, end: datetime) -> History:
    incidents: dict[str, Incident] = {}
    deploys: dict[str, DeployRecord] = {}
    for since, until in windows(start, end):
        span = {"since": _iso(since), "until": _iso(until)}
        for item in client.iter_all("incidents", params={**span, "statuses[]": ["resolved"], "time_zone": "UTC"}):
            if item["id"] not in incidents:
                past = _incident(item, list(client.iter_all(f"incidents/{item['id']}/log_entries")))
                if past is not None:
                    incidents[past.id] = past
        for event in client.iter_all("change_events", params=span):
            services = [s["id"] for s in event.get("services") or []]
            for service_id in services:
                key = event["id"] if len(services) == 1 else f"{event['id']}:{service_id}"
                deploys[key] = DeployRecord(key, service_id, _time(event["timestamp"]),
                                            str(event.get("summary") or ""), "pagerduty")
    return History(tuple(sorted(incidents.values(), key=lambda i: i.triggered_at)),
                   tuple(sorted(deploys.values(), key=lambda d: d.occurred_at)))


def _incident(item: dict[str, Any], log_entries: list[dict[str, Any]]) -> Incident | None:
    acknowledged = [_time(e["created_at"]) for e in log_entries if e.get("type") == "acknowledge_log_entry"]
    resolved = [_time(e["created_at"]) for e in log_entries if e.get("type") == "resolve_log_entry"]
    resolved_at = _time(item["resolved_at"]) if item.get("resolved_at") else (max(resolved) if resolved else None)
    if resolved_at is None:
        return None  # resolved, yet no time for it: nothing to measure
    service = item.get("service") or {}
    policy = item.get("escalation_policy") or {}
    return Incident(
        id=item["id"], number=int(item.get("incident_number") or 0), title=str(item.get("title") or ""),
        status=Status.RESOLVED, urgency=str(item.get("urgency") or "high"),
        priority=(item.get("priority") or {}).get("summary"), service_id=str(service.get("id") or ""),
        service_name=str(service.get("summary") or ""), escalation_policy_id=policy.get("id"),
        escalation_policy_name=policy.get("summary"), html_url=str(item.get("html_url") or ""), assignees=(),
        triggered_at=_time(item["created_at"]), acknowledged_at=min(acknowledged) if acknowledged else None,
        resolved_at=resolved_at, state_as_of=resolved_at, dedicated_channel=False,
        incident_key=item.get("incident_key"), trigger_seen=True)
