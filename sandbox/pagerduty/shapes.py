"""How the PagerDuty emulator's account looks from outside: PagerDuty's JSON shapes.

Owns rendering: REST resources as PagerDuty's OpenAPI description has them (references with id, type, summary,
self, html_url; null where PagerDuty answers null; a schedule with its final schedule rendered over a range), and
the `data` of v3 webhook events (as in the fixtures' `data.*.json`). Links are built from `public_url`, which the
host sets once it knows its address.
"""

from __future__ import annotations

from datetime import datetime

from sandbox.pagerduty.basics import Json, iso, random_id, stable_id
from sandbox.pagerduty.model import (
    Account,
    Agent,
    Event,
    Incident,
    LogEntry,
    Note,
    Policy,
    Responder,
    ResponderRequest,
    Service,
    User,
)
from sandbox.pagerduty.schedules import Entry, Override, Schedule


class Shapes:
    def __init__(self, account: Account) -> None:
        self.account = account
        self.public_url = "http://localhost:3000"

    def ref(self, kind: str, id_: str, summary: str, *, api: str | None = None, html: str | None = None) -> Json:
        base = self.public_url.rstrip("/")
        return {
            "id": id_, "type": f"{kind}_reference", "summary": summary,
            "self": f"{base}/sandbox/pagerduty/api/{api or kind + 's'}/{id_}",
            "html_url": f"{base}/sandbox/pagerduty/{html or kind + 's'}/{id_}",
        }

    def user_ref(self, user_id: str) -> Json:
        return self.ref("user", user_id, self.account.users[user_id].name)

    def service_ref(self, service_id: str) -> Json:
        return self.ref("service", service_id, self.account.services[service_id].name)

    def policy_ref(self, policy_id: str) -> Json:
        return self.ref("escalation_policy", policy_id, self.account.policies[policy_id].name,
                        api="escalation_policies", html="escalation_policies")

    def agent_ref(self, agent: Agent | None) -> Json | None:
        if agent is None:
            return None
        return self.user_ref(agent.id) if agent.type == "user_reference" else self.service_ref(agent.id)

    def html_url(self, incident: Incident) -> str:
        return f"{self.public_url.rstrip('/')}/sandbox/pagerduty/incidents/{incident.id}"

    def priority_ref(self, name: str | None, kind: str = "priority_reference") -> Json | None:
        if name is None:
            return None
        base = self.public_url.rstrip("/")
        ref = {
            "id": self.account.priorities[name], "type": kind, "summary": name,
            "self": f"{base}/sandbox/pagerduty/api/priorities/{self.account.priorities[name]}",
            "html_url": f"{base}/sandbox/pagerduty/account/incident_priorities",
        }
        return ref | ({"name": name, "description": ""} if kind == "priority" else {})

    def user(self, user: User) -> Json:
        return self.user_ref(user.id) | {
            "type": "user", "name": user.name, "email": user.email, "time_zone": "Europe/London",
            "color": "purple", "role": "user", "avatar_url": "", "description": "", "invitation_sent": False,
            "job_title": "", "teams": [], "contact_methods": [], "notification_rules": [],
        }

    def policy(self, policy: Policy) -> Json:
        rules = [{
            "id": stable_id("P", f"rule:{policy.id}"), "escalation_delay_in_minutes": 30,
            "targets": [self.user_ref(u) for u in policy.on_call],
        }] if policy.rules is None else [{
            "id": stable_id("P", f"rule:{policy.id}:{n}"), "escalation_delay_in_minutes": rule.delay_minutes,
            "targets": [self.target_ref(kind, id_) for kind, id_ in rule.targets],
        } for n, rule in enumerate(policy.rules)]
        return self.policy_ref(policy.id) | {
            "type": "escalation_policy", "name": policy.name, "description": policy.description, "num_loops": 0,
            "on_call_handoff_notifications": "if_has_services", "escalation_rules": rules,
            "services": [self.service_ref(s.id) for s in self.account.services.values() if s.policy_id == policy.id],
            "teams": [self.team_ref(t) for t in policy.team_ids],
        }

    def team_ref(self, team_id: str) -> Json:
        return self.ref("team", team_id, self.account.teams[team_id].name)

    def schedule_ref(self, schedule_id: str) -> Json:
        return self.ref("schedule", schedule_id, self.account.schedules[schedule_id].name)

    def target_ref(self, kind: str, id_: str) -> Json:
        """An escalation target as PagerDuty renders it: a user or a schedule reference."""
        return self.user_ref(id_) if kind == "user_reference" else self.schedule_ref(id_)

    def service(self, service: Service) -> Json:
        last = self.account.incidents.last_created(service.id)
        return self.service_ref(service.id) | {
            "type": "service", "name": service.name, "description": service.description, "status": "active",
            "escalation_policy": self.policy_ref(service.policy_id) if service.policy_id else None,
            # A service belongs to the team of its escalation policy, as in PagerDuty.
            "teams": [self.team_ref(t) for t in (self.account.policies[service.policy_id].team_ids
                                                 if service.policy_id in self.account.policies else [])],
            "integrations": [], "alert_creation": "create_alerts_and_incidents",
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            "acknowledgement_timeout": None, "auto_resolve_timeout": None,
            "last_incident_timestamp": iso(last) if last else None, "created_at": "2024-01-01T00:00:00Z",
        }

    def incident(self, incident: Incident) -> Json:
        assigned_at = iso(incident.last_status_change_at or incident.created_at)
        return self.ref("incident", incident.id, f"[#{incident.number}] {incident.title}") | {
            "type": "incident", "html_url": self.html_url(incident),
            "incident_number": incident.number, "title": incident.title, "description": incident.title,
            "created_at": iso(incident.created_at), "updated_at": iso(incident.updated_at or incident.created_at),
            "status": incident.status, "incident_key": incident.incident_key,
            "service": self.service_ref(incident.service_id),
            "assignments": [{"at": assigned_at, "assignee": self.user_ref(u)} for u in incident.assignee_ids],
            "assigned_via": "escalation_policy",
            "last_status_change_at": iso(incident.last_status_change_at or incident.created_at),
            "last_status_change_by": self.agent_ref(incident.last_status_change_by),
            "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
            "first_trigger_log_entry": self._log_ref(incident.first_log_entry_id, incident),
            "alert_counts": {"all": 0, "triggered": 0, "resolved": 0}, "is_mergeable": True,
            "incident_type": {"name": "incident_default"},
            "escalation_policy": self.policy_ref(incident.policy_id) if incident.policy_id else None,
            "teams": [], "pending_actions": [],
            "acknowledgements": [{"at": iso(at), "acknowledger": self.user_ref(u)}
                                 for at, u in incident.acknowledgements],
            "alert_grouping": None, "priority": self.priority_ref(incident.priority, "priority"),
            "resolve_reason": None, "conference_bridge": None, "urgency": incident.urgency,
            "incidents_responders": [self._responder(incident, r) for r in incident.responders],
            "responder_requests": [self.responder_request(r) for r in self.account.responder_requests
                                   if r.incident_id == incident.id],
            "body": {"type": "incident_body", "details": incident.details},
        }

    def _responder(self, incident: Incident, responder: Responder) -> Json:
        return {
            "state": responder.state, "user": self.user_ref(responder.user_id),
            "incident": self.ref("incident", incident.id, incident.title),
            "updated_at": iso(responder.requested_at), "message": responder.message,
            "requester": self.user_ref(responder.requester_id), "requested_at": iso(responder.requested_at),
        }

    def responder_request(self, request: ResponderRequest) -> Json:
        incident = self.account.incidents[request.incident_id]
        targets = []
        for kind, target_id in request.targets:
            named = self.account.users if kind == "user_reference" else self.account.policies
            name = named[target_id].name
            targets.append({"responder_request_target": {
                "type": kind.removesuffix("_reference"), "id": target_id, "summary": name,
                "incident_responders": [
                    self._responder(incident, r) for r in request.responders
                    if (r.policy_id == target_id if kind == "escalation_policy_reference"
                        else r.policy_id is None and r.user_id == target_id)
                ],
            }})
        return {
            "id": request.id, "incident": self.ref("incident", incident.id, incident.title),
            "requester": self.user_ref(request.requester_id), "requested_at": iso(request.requested_at),
            "message": request.message, "responder_request_targets": targets,
        }

    def note(self, note: Note) -> Json:
        return {
            "id": note.id, "user": self.user_ref(note.user_id), "content": note.content,
            "channel": {"summary": "The PagerDuty website or APIs"}, "created_at": iso(note.created_at),
        }

    def _log_ref(self, entry_id: str | None, incident: Incident) -> Json | None:
        if entry_id is None:
            return None
        return self.ref("trigger_log_entry", entry_id, "Triggered", api="log_entries",
                        html=f"incidents/{incident.id}/log_entries")

    def log_entry(self, entry: LogEntry) -> Json:
        incident = self.account.incidents[entry.incident_id]
        rendered = self.ref("log_entry", entry.id, entry.summary, api="log_entries",
                            html=f"incidents/{incident.id}/log_entries") | {
            "type": entry.type, "created_at": iso(entry.created_at),
            "channel": {"type": entry.channel}, "agent": self.agent_ref(entry.agent),
            "service": self.service_ref(incident.service_id),
            "incident": self.ref("incident", incident.id, incident.title), "teams": [], "contexts": [],
            "event_details": {},
        }
        if entry.note is not None:
            rendered["note"] = entry.note
        if entry.type in ("assign_log_entry", "escalate_log_entry"):
            rendered["assignees"] = [self.user_ref(u) for u in entry.assignee_ids]
        return rendered

    def oncalls(self) -> list[Json]:
        return [
            {"escalation_policy": self.policy_ref(p.id), "escalation_level": 1, "schedule": None,
             "user": self.user_ref(u), "start": None, "end": None}
            for p in self.account.policies.values() for u in p.on_call
        ]

    def webhook_incident(self, incident: Incident) -> Json:
        """The v3 webhook `data` of type `incident` (see the fixtures' data.incident.json)."""
        data: Json = {
            "id": incident.id, "type": "incident",
            "self": f"{self.public_url.rstrip('/')}/sandbox/pagerduty/api/incidents/{incident.id}",
            "html_url": self.html_url(incident), "number": incident.number, "status": incident.status,
            "incident_key": incident.incident_key, "created_at": iso(incident.created_at), "title": incident.title,
            "incident_type": {"name": "incident_default"},
            "service": self.service_ref(incident.service_id),
            "assignees": [self.user_ref(u) for u in incident.assignee_ids],
            "escalation_policy": self.policy_ref(incident.policy_id) if incident.policy_id else None,
            "teams": [], "priority": self.priority_ref(incident.priority), "urgency": incident.urgency,
            "conference_bridge": None, "resolve_reason": None,
        }
        if incident.reopened_at is not None:
            data["reopened_at"] = iso(incident.reopened_at)
        return data

    def webhook_note(self, note: Note) -> Json:
        incident = self.account.incidents[note.incident_id]
        return {"incident": self.ref("incident", incident.id, incident.title), "id": note.id,
                "content": note.content, "trimmed": False, "type": "incident_note"}

    def webhook_responder(self, incident: Incident, responder: Responder) -> Json:
        return {
            "incident": self.ref("incident", incident.id, incident.title), "user": self.user_ref(responder.user_id),
            "escalation_policy": self.policy_ref(responder.policy_id) if responder.policy_id else None,
            "message": responder.message, "state": responder.state, "type": "incident_responder",
        }

    def made_up_data(self, event_type: str, incident: Incident, user_id: str | None, text: str) -> Json:
        """`data` for an event sent on purpose, of the type PagerDuty documents for it (fixtures README)."""
        ref = self.ref("incident", incident.id, incident.title)
        if event_type == "incident.annotated":
            return {"incident": ref, "id": random_id("P", 6), "content": text, "trimmed": False,
                    "type": "incident_note"}
        if event_type.startswith("incident.responder."):
            user = user_id or next(iter(incident.assignee_ids), None)
            return {"incident": ref, "user": self.user_ref(user) if user else None, "escalation_policy": None,
                    "message": text, "state": "joined" if event_type.endswith(".replied") else "pending",
                    "type": "incident_responder"}
        if event_type == "incident.status_update_published":
            return {"incident": ref, "id": random_id("P", 6), "message": text, "trimmed": False,
                    "type": "incident_status_update"}
        if event_type == "incident.conference_bridge.updated":
            return {"incident": ref, "conference_numbers": [], "conference_url": text,
                    "type": "incident_conference_bridge"}
        return self.webhook_incident(incident)

    def webhook_data(self, event: Event) -> Json:
        if event.data is not None:
            return event.data
        if event.note is not None:
            return self.webhook_note(event.note)
        if event.responder is not None:
            return self.webhook_responder(event.incident, event.responder)
        return self.webhook_incident(event.incident)


def schedule_json(schedule: Schedule, shapes: Shapes, since: datetime | None, until: datetime | None) -> Json:
    """`GET /schedules/{id}`'s schedule; the rendered entries only when a range is given, as in PagerDuty."""
    rendered = since is not None and until is not None

    def entries(items: list[Entry]) -> list[Json]:
        return [{"start": iso(e.start), "end": iso(e.end), "user": shapes.user_ref(e.user_id)} for e in items]

    final = schedule.render(since, until) if since is not None and until is not None else []
    overrides = ([Entry(o.start, o.end, o.user_id) for o in schedule.overrides if o.start < until and o.end > since]
                 if since is not None and until is not None else [])
    return shapes.ref("schedule", schedule.id, schedule.name) | {
        "type": "schedule", "name": schedule.name, "time_zone": schedule.time_zone,
        "description": schedule.description,
        "schedule_layers": [
            {"id": layer.id, "name": layer.name, "start": iso(layer.start),
             "end": iso(layer.end) if layer.end else None,
             "rotation_virtual_start": iso(layer.rotation_virtual_start),
             "rotation_turn_length_seconds": int(layer.turn.total_seconds()),
             "users": [{"user": shapes.user_ref(u)} for u in layer.user_ids],
             "restrictions": [
                 {"type": r.type, "start_time_of_day": r.start_time_of_day.isoformat(),
                  "duration_seconds": int(r.duration.total_seconds())}
                 | ({"start_day_of_week": r.start_day_of_week} if r.start_day_of_week else {})
                 for r in layer.restrictions
             ]}
            for layer in schedule.layers
        ],
        "final_schedule": {"name": "Final Schedule", "rendered_schedule_entries": entries(final),
                           "rendered_coverage_percentage": _coverage(final, since, until) if rendered else None},
        "overrides_subschedule": {"name": "Overrides", "rendered_schedule_entries": entries(overrides),
                                  "rendered_coverage_percentage": None},
        "users": [shapes.user_ref(u) for u in schedule.users()],
        "escalation_policies": [], "teams": [],
    }


def override_json(override: Override, shapes: Shapes) -> Json:
    return {"id": override.id, "start": iso(override.start), "end": iso(override.end),
            "user": shapes.user_ref(override.user_id)}


def _coverage(entries: list[Entry], since: datetime | None, until: datetime | None) -> float | None:
    if since is None or until is None or until <= since:
        return None
    covered = sum((e.end - e.start).total_seconds() for e in entries)
    return round(100 * covered / (until - since).total_seconds(), 1)
