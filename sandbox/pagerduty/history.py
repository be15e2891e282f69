"""The sandbox PagerDuty's past: resolved incidents with their log entries, and change events (deploys).

Reports need an incident history from before the bot was installed; a real team gets it from PagerDuty's REST API
(`pavedroad history import`). So that the sandbox can do the same, this module puts a history *into* the emulated
account — incidents already resolved, each with its trigger, acknowledge and resolve log entries at the right
times, sending no webhooks (they happened before the bot) — and serves `GET /change_events` as PagerDuty does:
newest first, filtered by `since`/`until`, which must be UTC (PagerDuty answers 400 to other offsets).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.incident import Incident as PastIncident
from bot.ports.incident_history import DeployRecord
from sandbox.pagerduty.basics import Json, invalid, iso, random_id
from sandbox.pagerduty.model import Account, Agent, Incident, LogEntry
from sandbox.pagerduty.shapes import Shapes


@dataclass(frozen=True)
class ChangeEvent:
    id: str
    summary: str
    timestamp: datetime
    service_ids: tuple[str, ...]
    source: str = "sandbox-deploy-pipeline"


class PagerDutyHistory:
    def __init__(self, account: Account, shapes: Shapes) -> None:
        self._account, self._shapes = account, shapes
        self.change_events: list[ChangeEvent] = []

    def add(self, incidents: Sequence[PastIncident], deploys: Sequence[DeployRecord]) -> None:
        """Make these past incidents and deploys part of the account, as if they had happened in PagerDuty."""
        for past in incidents:
            if past.resolved_at is None or past.service_id not in self._account.services:
                raise ValueError(f"history incident {past.id}: only resolved incidents of the sandbox's services "
                                 "can be added")
            self._add_incident(past, past.resolved_at)
        for deploy in deploys:
            if deploy.service_id not in self._account.services:
                raise ValueError(f"history deploy {deploy.id}: {deploy.service_id} is not a sandbox service")
            self.change_events.append(ChangeEvent(random_id("01", 24), deploy.summary or "Deploy",
                                                  deploy.occurred_at.astimezone(UTC), (deploy.service_id,)))
        self.change_events.sort(key=lambda e: e.timestamp, reverse=True)

    def _add_incident(self, past: PastIncident, resolved_at: datetime) -> None:
        account = self._account
        service = account.services[past.service_id]
        policy = account.policies.get(service.policy_id or "")
        responder = policy.on_call[0] if policy and policy.on_call else next(iter(account.users))
        agent = Agent("user_reference", responder)
        incident = Incident(
            id=random_id("Q", 13), number=len(account.incidents) + 1, title=past.title, service_id=service.id,
            policy_id=service.policy_id, urgency=past.urgency, incident_key=secrets.token_hex(16),
            created_at=past.triggered_at, assignee_ids=[], status="resolved", updated_at=resolved_at,
            last_status_change_at=resolved_at, last_status_change_by=agent, resolved_at=resolved_at,
            resolved_by=responder)
        account.incidents[incident.id] = incident
        name = account.users[responder].name
        steps: list[tuple[str, datetime, Agent | None, str]] = [
            ("trigger_log_entry", past.triggered_at, None, "Triggered through the API.")]
        if past.acknowledged_at is not None:
            steps.append(("acknowledge_log_entry", past.acknowledged_at, agent, f"Acknowledged by {name}."))
        steps.append(("resolve_log_entry", resolved_at, agent, f"Resolved by {name}."))
        for kind, when, who, summary in steps:
            entry = LogEntry(random_id("R", 13), kind, incident.id, when, who, "api", summary)
            account.log_entries.append(entry)
            if kind == "trigger_log_entry":
                incident.first_log_entry_id = entry.id

    def list_change_events(self, since: str | None, until: str | None) -> list[Json]:
        start, end = _utc_param("since", since), _utc_param("until", until)
        return [self.change_event(e) for e in self.change_events
                if (start is None or e.timestamp >= start) and (end is None or e.timestamp < end)]

    def change_event(self, event: ChangeEvent) -> Json:
        return {"id": event.id, "type": "change_event", "summary": event.summary, "timestamp": iso(event.timestamp),
                "source": event.source, "services": [self._shapes.service_ref(s) for s in event.service_ids],
                "integration": None, "custom_details": {}, "links": []}


def _utc_param(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} must be an ISO 8601 datetime") from None
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise invalid(f"{name} must be a UTC ISO 8601 datetime (e.g. 2021-01-01T00:00:00Z)")
    return moment


def in_range(moment: datetime, since: str | None, until: str | None) -> bool:
    """GET /incidents' `since`/`until` (any offset accepted there; `until` is exclusive)."""
    def parse(name: str, value: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(f"{name} must be an ISO 8601 datetime") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return (not since or moment >= parse("since", since)) and (not until or moment < parse("until", until))
