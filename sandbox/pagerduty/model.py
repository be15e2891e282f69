"""The PagerDuty emulator's account: users, escalation policies, services, incidents and what happened to them.

Owns the state and its rules: who is assigned, which changes PagerDuty refuses and with which error code,
incident_key de-duplication, and who did what (every change is attributed to an agent in the log and reported
through `on_event`, in the order it happened). Rendering is `shapes.py`'s; HTTP is `emulator.py`'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.catalogue import SandboxSeed
from sandbox.pagerduty.basics import Json, PagerDutyError, invalid, not_found, random_id, stable_id
from sandbox.pagerduty.index import IncidentBook, PerIncident
from sandbox.pagerduty.schedules import Schedule

PRIORITY_NAMES = ("P1", "P2", "P3", "P4", "P5")


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
class Rule:
    """An escalation rule written through the API: its targets as (reference type, id), e.g. a schedule."""

    delay_minutes: int
    targets: list[tuple[str, str]]


@dataclass
class Policy:
    id: str
    name: str
    on_call: list[str]  # user ids, all on the policy's one rule (seeded) or targeted directly by its first rule
    # Set for policies written through the API (see `admin.py`); seeded ones have the one rule of `on_call`.
    rules: list[Rule] | None = None
    description: str = ""
    team_ids: list[str] = field(default_factory=list)


@dataclass
class Service:
    id: str
    name: str
    policy_id: str | None
    description: str = ""


@dataclass
class Team:
    id: str
    name: str
    description: str = ""


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
    """A change worth a v3 webhook: its `data` is the incident, or the note / responder when those are given, or
    `data` as given (events sent on purpose). Rendered as soon as it is reported, so it shows the state then."""

    event_type: str
    agent: Agent | None
    incident: Incident
    note: Note | None = None
    responder: Responder | None = None
    data: Json | None = None


class Account:
    """One PagerDuty account, seeded from the catalogue's sandbox organisation."""

    def __init__(
        self,
        *,
        seed: SandboxSeed,
        services: Sequence[tuple[str, str]],
        clock: Callable[[], datetime],
        on_event: Callable[[Event], object],
        allow_reopen: bool = False,
    ) -> None:
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
        # Written through the API only (admin.py): the sandbox seeds no teams.
        self.teams: dict[str, Team] = {}
        self.incidents = IncidentBook[Incident]()
        self.notes = PerIncident[Note]()
        self.responder_requests: list[ResponderRequest] = []
        self.log_entries = PerIncident[LogEntry]()
        # Filled by the emulator from the seed (sandbox/pagerduty/schedules.py owns the schedule model).
        self.schedules: dict[str, Schedule] = {}

    def now(self) -> datetime:
        return self._clock()

    # ---- indexed collections (index.py): whatever is assigned is wrapped, so lookups never scan ------------

    @property
    def incidents(self) -> IncidentBook[Incident]:
        return self._incidents

    @incidents.setter
    def incidents(self, incidents: Mapping[str, Incident]) -> None:
        self._incidents = incidents if isinstance(incidents, IncidentBook) else IncidentBook(incidents)

    @property
    def notes(self) -> PerIncident[Note]:
        return self._notes

    @notes.setter
    def notes(self, notes: Iterable[Note]) -> None:
        self._notes = notes if isinstance(notes, PerIncident) else PerIncident(notes)

    @property
    def log_entries(self) -> PerIncident[LogEntry]:
        return self._log_entries

    @log_entries.setter
    def log_entries(self, entries: Iterable[LogEntry]) -> None:
        self._log_entries = entries if isinstance(entries, PerIncident) else PerIncident(entries)

    # ---- lookups -------------------------------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.strip().lower()), None)

    def incident(self, id_or_number: str) -> Incident:
        # GET /incidents/{id} also accepts the incident number, as PagerDuty does.
        found = self.incidents.get(id_or_number) or (
            self.incidents.numbered(int(id_or_number)) if id_or_number.isdigit() else None)
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
        duplicate = any(i.status != "resolved" for i in self.incidents.keyed(service_id, key))
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
        # Through the REST API (a person) or the Events API (an alert): both are the "api" channel.
        first = self._log(incident, "trigger_log_entry", agent, "api", "Triggered through the API.")
        incident.first_log_entry_id = first.id
        self._log_assignment(incident, agent)
        self._emit("incident.triggered", agent, incident)
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
        self._emit("incident.acknowledged", agent, incident)

    def unacknowledge(self, incident: Incident) -> None:
        """The acknowledgement timed out: back to triggered, assigned to the policy's on-call again."""
        if incident.status != "acknowledged":
            raise PagerDutyError(400, 1012, "Incident is not Acknowledged",
                                 [f"Incident {incident.id} is {incident.status}"])
        self._set_status(incident, "triggered", None)
        incident.acknowledgements.clear()
        incident.assignee_ids = self._on_call(incident.policy_id)
        self._log(incident, "unacknowledge_log_entry", None, "timeout", "Unacknowledged due to timeout.")
        self._emit("incident.unacknowledged", None, incident)

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
        self._emit("incident.resolved", agent, incident)

    def retrigger(self, incident: Incident, user: User, channel: str = "api") -> None:
        """PUT status=triggered: only reopens a resolved incident (and only where the account allows reopening)."""
        if incident.status != "resolved" or not self.allow_reopen:
            raise PagerDutyError(400, 1003, "Invalid Status Provided", [f"Incident {incident.id} is {incident.status}"])
        agent = Agent("user_reference", user.id)
        self._reopen(incident, agent)
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
        self._emit("incident.reassigned", agent, incident)

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
        self._emit("incident.delegated", agent, incident)

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
        self._emit("incident.escalated", agent, incident)

    def set_priority(self, incident: Incident, user: User, name: str | None) -> None:
        if name is not None and name not in self.priorities:
            raise PagerDutyError(400, 1020, "Invalid Priority", [f"Priority {name} does not exist"])
        incident.priority, incident.updated_at = name, self._clock()
        # PagerDuty's REST log has no entry type for a priority change; the webhook's agent carries attribution.
        self._emit("incident.priority_updated", Agent("user_reference", user.id), incident)

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
        self._emit("incident.annotated", Agent("user_reference", user.id), incident, note=note)
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
            self._emit("incident.responder.added", agent, incident, responder=responder)
        return request

    def priority_name(self, value: object) -> str:
        """A priority given as a reference ({id, type}) or, as the spec allows, by name."""
        name = value if isinstance(value, str) else next(
            (n for n, pid in self.priorities.items() if isinstance(value, dict) and pid == value.get("id")), None)
        if name not in self.priorities:
            raise PagerDutyError(400, 1020, "Invalid Priority", [f"Priority {value} does not exist"])
        return str(name)

    # ---- internals -----------------------------------------------------------------------------------------

    def _on_call(self, policy_id: str | None) -> list[str]:
        policy = self.policies.get(policy_id or "")
        if policy is None:
            return []
        if not policy.rules:
            return list(policy.on_call)
        # A policy written through the API: a rule's users, and whoever its schedules have on call now. A rule with
        # nobody on call is passed over at once for the next one, as PagerDuty escalates past an empty level.
        now = self._clock()
        for rule in policy.rules:
            users = []
            for kind, target in rule.targets:
                schedule = self.schedules.get(target) if kind == "schedule_reference" else None
                user = schedule.on_call(now) if schedule is not None else target if kind == "user_reference" else None
                if user is not None:
                    users.append(user)
            if users:
                return list(dict.fromkeys(users))
        return []

    def _set_status(self, incident: Incident, status: str, agent: Agent | None) -> None:
        now = self._clock()
        incident.status, incident.updated_at = status, now
        incident.last_status_change_at, incident.last_status_change_by = now, agent

    def _reopen(self, incident: Incident, agent: Agent) -> None:
        """Back to triggered and assigned per the policy, as PagerDuty reopens; acknowledging may follow."""
        incident.reopened_at, incident.resolved_at, incident.resolved_by = self._clock(), None, None
        self._set_status(incident, "triggered", agent)
        incident.assignee_ids = self._on_call(incident.policy_id)
        self._emit("incident.reopened", agent, incident)

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

    def _emit(self, event_type: str, agent: Agent | None, incident: Incident, *, note: Note | None = None,
              responder: Responder | None = None) -> None:
        self._on_event(Event(event_type, agent, incident, note, responder))
