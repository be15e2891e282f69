"""The PagerDuty emulator's account: users, escalation policies, services, incidents and what happened to them.

Owns the state and its rules (who is assigned, which status changes PagerDuty refuses and with which error code,
incident_key de-duplication, who did what in the log) and renders it in PagerDuty's shapes: REST resources as the
official OpenAPI description has them, and v3 webhook `data` objects. Every change is attributed to an agent and
reported through `on_event`, in the order it happened. No HTTP here: the emulator module does that.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from bot.catalogue import SandboxSeed

_ALPHABET = string.digits + string.ascii_uppercase
PRIORITY_NAMES = ("P1", "P2", "P3", "P4", "P5")
Json = dict[str, Any]


class PagerDutyError(Exception):
    """An error PagerDuty would answer: HTTP status, PagerDuty error code, message and details."""

    def __init__(self, status: int, code: int, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, list(errors)

    def body(self) -> Json:
        return {"error": {"message": self.message, "code": self.code, "errors": self.errors}}


def not_found(what: str) -> PagerDutyError:
    return PagerDutyError(404, 2100, "Not Found", [f"{what} not found"])


def invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, 2001, "Invalid Input Provided", errors)


def stable_id(prefix: str, key: str, length: int = 6) -> str:
    """A PagerDuty-looking id derived from `key`, so a user keeps their id across sandbox restarts."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def random_id(prefix: str, length: int) -> str:
    # Random rather than derived: the bot's store outlives a sandbox restart, and must not see an old id reused.
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def iso(moment: datetime) -> str:
    """REST timestamps: seconds precision, UTC, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Agent:
    type: Literal["user_reference", "service_reference"]
    id: str


@dataclass
class User:
    id: str
    name: str
    email: str


@dataclass
class Policy:
    id: str
    name: str
    on_call: list[str]  # user ids, all on the policy's one rule


@dataclass
class Service:
    id: str
    name: str
    policy_id: str | None


@dataclass
class Incident:
    id: str
    number: int
    title: str
    service_id: str
    policy_id: str | None
    urgency: str
    incident_key: str
    created_at: datetime
    assignee_ids: list[str]
    status: str = "triggered"
    details: object = None
    priority: str | None = None
    escalation_level: int = 1
    updated_at: datetime | None = None
    last_status_change_at: datetime | None = None
    last_status_change_by: Agent | None = None
    acknowledgements: list[tuple[datetime, str]] = field(default_factory=list)
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    reopened_at: datetime | None = None
    first_log_entry_id: str | None = None
    responders: list[Responder] = field(default_factory=list)


@dataclass
class Responder:
    user_id: str
    policy_id: str | None
    requester_id: str
    message: str
    requested_at: datetime
    state: str = "pending"


@dataclass
class Note:
    id: str
    incident_id: str
    user_id: str
    content: str
    created_at: datetime


@dataclass
class ResponderRequest:
    id: str
    incident_id: str
    requester_id: str
    message: str
    targets: list[tuple[str, str]]  # (reference type, id)
    requested_at: datetime
    responders: list[Responder]


@dataclass
class LogEntry:
    id: str
    type: str
    incident_id: str
    created_at: datetime
    agent: Agent | None
    channel: str
    summary: str
    note: str | None = None
    assignee_ids: list[str] = field(default_factory=list)


@dataclass
class Event:
    """A v3 webhook event before it gets an id and a timestamp."""

    event_type: str
    agent: Agent | None
    data: Json


class Account:
    """One PagerDuty account seeded from the catalogue. `public_url` is read at render time (the host sets it late)."""

    def __init__(
        self,
        *,
        seed: SandboxSeed,
        services: Sequence[tuple[str, str]],
        clock: Callable[[], datetime],
        on_event: Callable[[Event], object],
        allow_reopen: bool = False,
    ) -> None:
        self.public_url = "http://localhost:3000"
        self.allow_reopen = allow_reopen
        self._clock = clock
        self._on_event = on_event
        self.users = {
            user.id: user
            for user in (User(stable_id("P", p.email.lower()), p.name, p.email) for p in seed.people if p.pagerduty)
        }
        by_email = {u.email.lower(): u.id for u in self.users.values()}
        self.policies = {
            p.id: Policy(p.id, p.name, [by_email[e.lower()] for e in p.on_call if e.lower() in by_email])
            for p in seed.escalation_policies
        }
        first_policy = next(iter(self.policies), None)
        owner = {sid: p.id for p in seed.escalation_policies for sid in p.services}
        self.services = {sid: Service(sid, name, owner.get(sid, first_policy)) for sid, name in services}
        self.priorities = {name: stable_id("P", f"priority:{name}") for name in PRIORITY_NAMES}
        self.incidents: dict[str, Incident] = {}
        self.notes: list[Note] = []
        self.responder_requests: list[ResponderRequest] = []
        self.log_entries: list[LogEntry] = []

    # ---- lookups -------------------------------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.strip().lower()), None)

    def incident(self, id_or_number: str) -> Incident:
        # GET /incidents/{id} also accepts the incident number, as PagerDuty does.
        found = self.incidents.get(id_or_number) or next(
            (i for i in self.incidents.values() if id_or_number.isdigit() and i.number == int(id_or_number)), None
        )
        if found is None:
            raise not_found(f"Incident {id_or_number}")
        return found

    # ---- changes -------------------------------------------------------------------------------------------

    def trigger(
        self,
        *,
        title: str,
        service_id: str,
        agent: Agent,
        urgency: str = "high",
        incident_key: str | None = None,
        details: object = None,
        policy_id: str | None = None,
        assignee_ids: Sequence[str] | None = None,
        priority: str | None = None,
    ) -> Incident:
        service = self.services.get(service_id)
        if service is None:
            raise invalid(f"Service {service_id} not found")
        key = incident_key or secrets.token_hex(16)
        duplicate = any(
            i.incident_key == key and i.service_id == service_id and i.status != "resolved"
            for i in self.incidents.values()
        )
        if incident_key and duplicate:
            raise invalid("Open incident with matching dedup key already exists on this service")
        policy = policy_id if policy_id is not None else service.policy_id
        now = self._clock()
        incident = Incident(
            id=random_id("Q", 13), number=len(self.incidents) + 1, title=title, service_id=service_id,
            policy_id=policy, urgency=urgency, incident_key=key, created_at=now, details=details, priority=priority,
            assignee_ids=list(assignee_ids) if assignee_ids is not None else self._on_call(policy),
            updated_at=now, last_status_change_at=now, last_status_change_by=agent,
        )
        self.incidents[incident.id] = incident
        channel = "api" if agent.type == "service_reference" else "web_trigger"
        first = self._log(incident, "trigger_log_entry", agent, channel, f"Triggered through the {channel}.")
        incident.first_log_entry_id = first.id
        self._log_assignment(incident, agent)
        self._emit("incident.triggered", agent, self.webhook_incident(incident))
        return incident

    def acknowledge(self, incident: Incident, user: User, channel: str = "api") -> None:
        agent = Agent("user_reference", user.id)
        if incident.status == "acknowledged":
            raise PagerDutyError(400, 1002, "Incident Already Acknowledged",
                                 [f"Incident {incident.id} is already acknowledged"])
        if incident.status == "resolved":
            if not self.allow_reopen:
                raise PagerDutyError(400, 1001, "Incident Already Resolved", [f"Incident {incident.id} is resolved"])
            self._reopen(incident, agent)
        now = self._clock()
        self._set_status(incident, "acknowledged", agent)
        incident.acknowledgements.append((now, user.id))
        # Acknowledging takes the incident: PagerDuty reassigns it to whoever acknowledged.
        incident.assignee_ids = [user.id]
        self._log(incident, "acknowledge_log_entry", agent, channel, f"Acknowledged by {user.name}.")
        self._emit("incident.acknowledged", agent, self.webhook_incident(incident))

    def unacknowledge(self, incident: Incident) -> None:
        """The acknowledgement timed out: back to triggered, assigned to the policy's on-call again."""
        if incident.status != "acknowledged":
            raise PagerDutyError(400, 1012, "Incident is not Acknowledged",
                                 [f"Incident {incident.id} is {incident.status}"])
        self._set_status(incident, "triggered", None)
        incident.acknowledgements.clear()
        incident.assignee_ids = self._on_call(incident.policy_id)
        self._log(incident, "unacknowledge_log_entry", None, "timeout", "Unacknowledged due to timeout.")
        self._emit("incident.unacknowledged", None, self.webhook_incident(incident))

    def resolve(self, incident: Incident, user: User, channel: str = "api", resolution: str | None = None) -> None:
        agent = Agent("user_reference", user.id)
        if incident.status == "resolved":
            raise PagerDutyError(400, 1001, "Incident Already Resolved",
                                 [f"Incident {incident.id} is already resolved"])
        self._set_status(incident, "resolved", agent)
        incident.resolved_at, incident.resolved_by = self._clock(), user.id
        # A resolved incident has no assignments in PagerDuty.
        incident.assignee_ids = []
        self._log(incident, "resolve_log_entry", agent, channel, f"Resolved by {user.name}.", note=resolution)
        self._emit("incident.resolved", agent, self.webhook_incident(incident))

    def retrigger(self, incident: Incident, user: User, channel: str = "api") -> None:
        """PUT status=triggered: only reopens a resolved incident (and only where the account allows reopening)."""
        if incident.status != "resolved" or not self.allow_reopen:
            raise PagerDutyError(400, 1003, "Invalid Status Provided", [f"Incident {incident.id} is {incident.status}"])
        agent = Agent("user_reference", user.id)
        self._reopen(incident, agent)
        self._set_status(incident, "triggered", agent)
        incident.assignee_ids = self._on_call(incident.policy_id)
        self._log_assignment(incident, agent, channel)

    def reassign(self, incident: Incident, user: User, assignee_ids: Sequence[str], channel: str = "api") -> None:
        if incident.status == "resolved":
            raise PagerDutyError(400, 1011, "Cannot process reassign action", [f"Incident {incident.id} is resolved"])
        agent = Agent("user_reference", user.id)
        incident.assignee_ids = list(dict.fromkeys(assignee_ids))
        if incident.status == "acknowledged":  # a reassigned incident must be acknowledged again by its new owner
            self._set_status(incident, "triggered", agent)
            incident.acknowledgements.clear()
        incident.updated_at = self._clock()
        self._log_assignment(incident, agent, channel)
        self._emit("incident.reassigned", agent, self.webhook_incident(incident))

    def delegate(self, incident: Incident, user: User, policy_id: str, channel: str = "api") -> None:
        if policy_id not in self.policies:
            raise PagerDutyError(400, 1014, "Escalation Policy Not Found", [f"Escalation policy {policy_id} not found"])
        agent = Agent("user_reference", user.id)
        incident.policy_id, incident.escalation_level = policy_id, 1
        incident.assignee_ids = self._on_call(policy_id)
        incident.updated_at = self._clock()
        self._log(incident, "delegate_log_entry", agent, channel,
                  f"Reassigned to {self.policies[policy_id].name} by {self.users[user.id].name}.")
        self._log_assignment(incident, agent, channel)
        self._emit("incident.delegated", agent, self.webhook_incident(incident))

    def escalate(self, incident: Incident, user: User | None, level: int | None = None, channel: str = "api") -> None:
        """Notify the policy's rule again (the sandbox's policies have one rule, which PagerDuty then loops)."""
        if incident.status == "resolved" or incident.policy_id is None:
            raise PagerDutyError(400, 1006, "Cannot Escalate", [f"Incident {incident.id} cannot be escalated"])
        agent = Agent("user_reference", user.id) if user else None
        incident.escalation_level = level or incident.escalation_level + 1
        incident.assignee_ids = self._on_call(incident.policy_id)
        incident.updated_at = self._clock()
        self._log(incident, "escalate_log_entry", agent, channel,
                  f"Escalated to level {incident.escalation_level}.", assignee_ids=incident.assignee_ids)
        self._emit("incident.escalated", agent, self.webhook_incident(incident))

    def set_priority(self, incident: Incident, user: User, name: str | None) -> None:
        if name is not None and name not in self.priorities:
            raise PagerDutyError(400, 1020, "Invalid Priority", [f"Priority {name} does not exist"])
        incident.priority, incident.updated_at = name, self._clock()
        # PagerDuty's REST log has no entry type for a priority change; the webhook's agent carries attribution.
        self._emit("incident.priority_updated", Agent("user_reference", user.id), self.webhook_incident(incident))

    def set_urgency(self, incident: Incident, user: User, urgency: str) -> None:
        agent = Agent("user_reference", user.id)
        incident.urgency, incident.updated_at = urgency, self._clock()
        self._log(incident, "urgency_change_log_entry", agent, "api", f"Urgency changed to {urgency}.")

    def set_title(self, incident: Incident, title: str) -> None:
        incident.title, incident.updated_at = title, self._clock()

    def add_note(self, incident: Incident, user: User, content: str, channel: str = "api") -> Note:
        note = Note(random_id("P", 6), incident.id, user.id, content, self._clock())
        self.notes.append(note)
        self._log(incident, "annotate_log_entry", Agent("user_reference", user.id), channel, "Note added.",
                  note=content)
        self._emit("incident.annotated", Agent("user_reference", user.id), {
            "incident": self._ref("incident", incident.id, incident.title),
            "id": note.id, "content": content, "trimmed": False, "type": "incident_note",
        })
        return note

    def request_responders(
        self, incident: Incident, requester: User, message: str, targets: Iterable[tuple[str, str]]
    ) -> ResponderRequest:
        if incident.status == "resolved":
            raise invalid(f"Incident {incident.id} is resolved")
        now, chosen = self._clock(), list(targets)
        responders: list[Responder] = []
        for kind, target_id in chosen:
            if kind == "user_reference" and target_id in self.users:
                responders.append(Responder(target_id, None, requester.id, message, now))
            elif kind == "escalation_policy_reference" and target_id in self.policies:
                responders += [Responder(u, target_id, requester.id, message, now)
                               for u in self.policies[target_id].on_call]
            else:
                raise invalid(f"Responder request target {kind} {target_id} not found")
        request = ResponderRequest(random_id("P", 6), incident.id, requester.id, message, chosen, now, responders)
        self.responder_requests.append(request)
        incident.responders += responders
        agent = Agent("user_reference", requester.id)
        for responder in responders:
            self._emit("incident.responder.added", agent, {
                "incident": self._ref("incident", incident.id, incident.title),
                "user": self.user_ref(responder.user_id),
                "escalation_policy": self.policy_ref(responder.policy_id) if responder.policy_id else None,
                "message": message, "state": responder.state, "type": "incident_responder",
            })
        return request

    def emit(self, event_type: str, agent: Agent | None, data: Json) -> None:
        self._emit(event_type, agent, data)

    # ---- rendering -----------------------------------------------------------------------------------------

    def _ref(self, kind: str, id_: str, summary: str, *, api: str | None = None, html: str | None = None) -> Json:
        base = self.public_url.rstrip("/")
        return {
            "id": id_, "type": f"{kind}_reference", "summary": summary,
            "self": f"{base}/sandbox/pagerduty/api/{api or kind + 's'}/{id_}",
            "html_url": f"{base}/sandbox/pagerduty/{html or kind + 's'}/{id_}",
        }

    def user_ref(self, user_id: str) -> Json:
        return self._ref("user", user_id, self.users[user_id].name)

    def service_ref(self, service_id: str) -> Json:
        return self._ref("service", service_id, self.services[service_id].name)

    def policy_ref(self, policy_id: str) -> Json:
        return self._ref("escalation_policy", policy_id, self.policies[policy_id].name, api="escalation_policies",
                         html="escalation_policies")

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
            "id": self.priorities[name], "type": kind, "summary": name,
            "self": f"{base}/sandbox/pagerduty/api/priorities/{self.priorities[name]}",
            "html_url": f"{base}/sandbox/pagerduty/account/incident_priorities",
        }
        return ref | ({"name": name, "description": ""} if kind == "priority" else {})

    def rest_user(self, user: User) -> Json:
        return self.user_ref(user.id) | {
            "type": "user", "name": user.name, "email": user.email, "time_zone": "Europe/London",
            "color": "purple", "role": "user", "avatar_url": "", "description": "", "invitation_sent": False,
            "job_title": "", "teams": [], "contact_methods": [], "notification_rules": [],
        }

    def rest_policy(self, policy: Policy) -> Json:
        return self.policy_ref(policy.id) | {
            "type": "escalation_policy", "name": policy.name, "description": "", "num_loops": 0,
            "on_call_handoff_notifications": "if_has_services",
            "escalation_rules": [{
                "id": stable_id("P", f"rule:{policy.id}"), "escalation_delay_in_minutes": 30,
                "targets": [self.user_ref(u) for u in policy.on_call],
            }],
            "services": [self.service_ref(s.id) for s in self.services.values() if s.policy_id == policy.id],
            "teams": [],
        }

    def rest_service(self, service: Service) -> Json:
        last = max((i.created_at for i in self.incidents.values() if i.service_id == service.id), default=None)
        return self.service_ref(service.id) | {
            "type": "service", "name": service.name, "description": "", "status": "active",
            "escalation_policy": self.policy_ref(service.policy_id) if service.policy_id else None,
            "teams": [], "integrations": [], "alert_creation": "create_alerts_and_incidents",
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            "acknowledgement_timeout": None, "auto_resolve_timeout": None,
            "last_incident_timestamp": iso(last) if last else None, "created_at": "2024-01-01T00:00:00Z",
        }

    def rest_incident(self, incident: Incident) -> Json:
        assigned_at = iso(incident.last_status_change_at or incident.created_at)
        return self._ref("incident", incident.id, f"[#{incident.number}] {incident.title}") | {
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
            "incidents_responders": [self._rest_responder(incident, r) for r in incident.responders],
            "responder_requests": [self.rest_responder_request(r) for r in self.responder_requests
                                   if r.incident_id == incident.id],
            "body": {"type": "incident_body", "details": incident.details},
        }

    def _rest_responder(self, incident: Incident, responder: Responder) -> Json:
        return {
            "state": responder.state, "user": self.user_ref(responder.user_id),
            "incident": self._ref("incident", incident.id, incident.title),
            "updated_at": iso(responder.requested_at), "message": responder.message,
            "requester": self.user_ref(responder.requester_id), "requested_at": iso(responder.requested_at),
        }

    def rest_responder_request(self, request: ResponderRequest) -> Json:
        incident = self.incidents[request.incident_id]
        targets = []
        for kind, target_id in request.targets:
            name = self.users[target_id].name if kind == "user_reference" else self.policies[target_id].name
            targets.append({"responder_request_target": {
                "type": kind.removesuffix("_reference"), "id": target_id, "summary": name,
                "incident_responders": [
                    self._rest_responder(incident, r) for r in request.responders
                    if (r.policy_id == target_id if kind == "escalation_policy_reference"
                        else r.policy_id is None and r.user_id == target_id)
                ],
            }})
        return {
            "id": request.id, "incident": self._ref("incident", incident.id, incident.title),
            "requester": self.user_ref(request.requester_id), "requested_at": iso(request.requested_at),
            "message": request.message, "responder_request_targets": targets,
        }

    def rest_note(self, note: Note) -> Json:
        return {
            "id": note.id, "user": self.user_ref(note.user_id), "content": note.content,
            "channel": {"summary": "The PagerDuty website or APIs"}, "created_at": iso(note.created_at),
        }

    def _log_ref(self, entry_id: str | None, incident: Incident) -> Json | None:
        if entry_id is None:
            return None
        return self._ref("trigger_log_entry", entry_id, "Triggered", api="log_entries",
                         html=f"incidents/{incident.id}/log_entries")

    def rest_log_entry(self, entry: LogEntry) -> Json:
        incident = self.incidents[entry.incident_id]
        rendered = self._ref("log_entry", entry.id, entry.summary, api="log_entries",
                             html=f"incidents/{incident.id}/log_entries") | {
            "type": entry.type, "created_at": iso(entry.created_at),
            "channel": {"type": entry.channel}, "agent": self.agent_ref(entry.agent),
            "service": self.service_ref(incident.service_id),
            "incident": self._ref("incident", incident.id, incident.title), "teams": [], "contexts": [],
            "event_details": {},
        }
        if entry.note is not None:
            rendered["note"] = entry.note
        if entry.type in ("assign_log_entry", "escalate_log_entry"):
            rendered["assignees"] = [self.user_ref(u) for u in entry.assignee_ids]
        return rendered

    def rest_oncalls(self) -> list[Json]:
        return [
            {"escalation_policy": self.policy_ref(p.id), "escalation_level": 1, "schedule": None,
             "user": self.user_ref(u), "start": None, "end": None}
            for p in self.policies.values() for u in p.on_call
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

    # ---- internals -----------------------------------------------------------------------------------------

    def _on_call(self, policy_id: str | None) -> list[str]:
        return list(self.policies[policy_id].on_call) if policy_id in self.policies else []

    def _set_status(self, incident: Incident, status: str, agent: Agent | None) -> None:
        now = self._clock()
        incident.status, incident.updated_at = status, now
        incident.last_status_change_at, incident.last_status_change_by = now, agent

    def _reopen(self, incident: Incident, agent: Agent) -> None:
        incident.reopened_at, incident.resolved_at, incident.resolved_by = self._clock(), None, None
        self._emit("incident.reopened", agent, self.webhook_incident(incident) | {"status": "triggered"})

    def _log(self, incident: Incident, kind: str, agent: Agent | None, channel: str, summary: str, *,
             note: str | None = None, assignee_ids: Sequence[str] = ()) -> LogEntry:
        entry = LogEntry(random_id("R", 13), kind, incident.id, self._clock(), agent, channel, summary, note,
                         list(assignee_ids))
        self.log_entries.append(entry)
        return entry

    def _log_assignment(self, incident: Incident, agent: Agent, channel: str = "auto") -> None:
        names = ", ".join(self.users[u].name for u in incident.assignee_ids) or "nobody"
        self._log(incident, "assign_log_entry", agent, channel, f"Assigned to {names}.",
                  assignee_ids=incident.assignee_ids)

    def _emit(self, event_type: str, agent: Agent | None, data: Json) -> None:
        self._on_event(Event(event_type, agent, data))
