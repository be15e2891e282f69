"""A local PagerDuty: REST API v2 under `/sandbox/pagerduty/api`, v3 webhooks to the bot, and sandbox controls.

`PagerDutyEmulator` is what the host builds and serves. This module owns the REST side: authentication, PagerDuty's
rate limit, injected faults, validation against the official OpenAPI description (a request the real PagerDuty
would refuse is refused here), the endpoints, and the state snapshot. The account and its rules are in `model.py`
(schedules in `schedules.py`), the JSON shapes in `shapes.py`, reading a call in `rest.py`, the configuration
endpoints in `admin.py`, webhook delivery in `webhooks.py`, and the routes that act as an alert or as a person in
PagerDuty's web app in `control.py`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from http import HTTPStatus

from aiohttp import web

from bot.catalogue import SandboxSeed
from sandbox.faults import Fault, Faults
from sandbox.hangups import hangups_told
from sandbox.pagerduty.admin import PagerDutyAdmin
from sandbox.pagerduty.basics import Json, PagerDutyError, invalid, not_found, random_id, stable_id
from sandbox.pagerduty.control import ACTIONS, PagerDutyControls
from sandbox.pagerduty.history import PagerDutyHistory, in_range
from sandbox.pagerduty.model import Account, Agent, Event, User
from sandbox.pagerduty.openapi import FROM_MISSING, PagerDutyRequestValidator
from sandbox.pagerduty.rest import Call, Handler, page, ref_id, time_field, time_range, wrapped
from sandbox.pagerduty.schedules import Override, Schedule, seeded_schedule
from sandbox.pagerduty.shapes import Shapes, override_json, schedule_json
from sandbox.pagerduty.status_updates import PagerDutyStatusUpdates
from sandbox.pagerduty.webhooks import WebhookSender

API_PREFIX = "/sandbox/pagerduty/api"
CONTROL_ACTIONS = ACTIONS  # what POST /sandbox/pagerduty/incidents/{id}/{action} accepts
log = logging.getLogger(__name__)


class PagerDutyEmulator:
    """PagerDuty for the sandbox and the tests. The host sets `webhook_url` and `public_url`, serves `add_routes`,
    and awaits `close()`; tests and the control routes use `trigger`, `emit_event` and `drain_webhooks`."""

    def __init__(
        self,
        *,
        seed: SandboxSeed,
        services: Sequence[tuple[str, str]],
        faults: Faults,
        api_token: str,
        webhook_secrets: Sequence[str],
        validator: PagerDutyRequestValidator | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rate_limit_per_minute: int = 960,
        allow_reopen: bool = False,
        webhook_max_attempts: int = 5,
        webhook_backoff_seconds: float = 0.2,
        webhook_timeout_seconds: float = 5.0,
    ) -> None:
        """`allow_reopen`: PUT status=acknowledged/triggered on a resolved incident reopens it (an account feature,
        documented in the spec) instead of answering 1001/1003. The webhook_* knobs follow PagerDuty's defaults."""
        self.faults = faults
        # Set by a host before add_routes: awaited after the trigger control route opens an incident, its fields
        # added to the answer (the one-port sandbox waits there for the incident's Slack channel).
        self.after_trigger: Callable[[Json], Awaitable[Json]] | None = None
        self.api_token = api_token
        self.validator = validator
        self.rate_limit_per_minute = rate_limit_per_minute
        self._clock = clock
        self.account = Account(seed=seed, services=services, clock=clock, on_event=self._send_event,
                               allow_reopen=allow_reopen)
        self.shapes = Shapes(self.account)
        self.account.schedules = {s.id: seeded_schedule(s, {u.email.lower(): u.id for u in self.account.users.values()})
                                  for s in seed.schedules}
        self.admin = PagerDutyAdmin(self.account, self.shapes)
        self.status_updates = PagerDutyStatusUpdates(self.account, self.shapes, self._send_event)
        self._webhooks = WebhookSender(
            secrets=webhook_secrets, subscription_id=stable_id("P", "webhook-subscription"), clock=clock,
            max_attempts=webhook_max_attempts, backoff_seconds=webhook_backoff_seconds,
            timeout_seconds=webhook_timeout_seconds,
        )
        self.calls: Counter[str] = Counter()
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = [
            (method, template, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"), handler)
            for method, template, handler in [
                ("GET", "/users", self._list_users),
                ("GET", "/users/{id}", self._get_user),
                ("GET", "/incidents", self._list_incidents),
                ("POST", "/incidents", self._create_incident),
                ("GET", "/incidents/{id}", self._get_incident),
                ("PUT", "/incidents/{id}", self._update_incident),
                ("GET", "/incidents/{id}/notes", self._list_notes),
                ("POST", "/incidents/{id}/notes", self._create_note),
                ("POST", "/incidents/{id}/responder_requests", self._create_responder_request),
                ("GET", "/incidents/{id}/log_entries", self._list_log_entries),
                ("GET", "/oncalls", self._list_oncalls),
                ("GET", "/services", self._list_services),
                ("GET", "/services/{id}", self._get_service),
                ("GET", "/escalation_policies", self._list_policies),
                ("GET", "/escalation_policies/{id}", self._get_policy),
                ("GET", "/schedules", self._list_schedules),
                ("GET", "/schedules/{id}", self._get_schedule),
                ("POST", "/schedules/{id}/overrides", self._create_overrides),
                # ---- configuration API (teams, policies, services, schedules, webhook subscriptions) ----
                *self.admin.routes(),
                # ---- priorities and incident status updates (status_updates.py) ----
                *self.status_updates.routes(),
            ]
        ]
        # ---- reports (issue 6): the account's past incidents and its change events (deploys) ----------------
        self.history = PagerDutyHistory(self.account, self.shapes)
        self._routes.append(("GET", "/change_events", re.compile("^/change_events$"), self._list_change_events))

    # ---- host interface ------------------------------------------------------------------------------------

    @property
    def webhook_url(self) -> str | None:
        """The bot's `POST /pagerduty/webhook`, set by the host once it knows its address."""
        return self._webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._webhooks.url = url

    @property
    def public_url(self) -> str:
        """Base of every `self` and `html_url` this emulator hands out."""
        return self.shapes.public_url

    @public_url.setter
    def public_url(self, url: str) -> None:
        self.shapes.public_url = url

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", hangups_told(self._api, log))
        PagerDutyControls(self.account, self.shapes, trigger=self.trigger, enable_webhooks=self.enable_webhooks,
                          after_trigger=self.after_trigger).add_routes(app)

    async def trigger(self, *, title: str, service_id: str | None = None, urgency: str = "high") -> Json:
        """Open an incident as a monitoring alert would (agent: the service); returns it in REST shape."""
        service = service_id or next(iter(self.account.services), None)
        if service is None or service not in self.account.services:
            raise not_found(f"Service {service_id}")
        if urgency not in ("high", "low"):
            raise invalid("urgency must be high or low")
        incident = self.account.trigger(title=title, service_id=service, urgency=urgency,
                                        agent=Agent("service_reference", service))
        return self.shapes.incident(incident)

    def emit_event(self, event_type: str, incident_id: str, *, user_email: str | None = None, text: str = "",
                   data: Json | None = None) -> str:
        """Send any v3 event about an incident without changing it (e.g. incident.responder.replied,
        incident.status_update_published, incident.priority_updated), as `user_email` (else no agent). `data`
        defaults to the documented type for the event: a note, responder or status update carrying `text`, else
        the incident as it is. Returns the event id."""
        incident = self.account.incident(incident_id)
        user = self.account.user_by_email(user_email) if user_email else None
        agent = Agent("user_reference", user.id) if user else None
        data = data or self.shapes.made_up_data(event_type, incident, user.id if user else None, text)
        return self._send_event(Event(event_type, agent, incident, data=data))

    def enable_webhooks(self) -> None:
        """Re-enable the webhook subscription after PagerDuty disabled it for repeated failed deliveries."""
        self._webhooks.enable()

    async def drain_webhooks(self) -> None:
        await self._webhooks.drain()

    async def close(self) -> None:
        await self._webhooks.close()

    def snapshot(self) -> dict[str, object]:
        account = self.account
        acknowledged_by = {i.id: i.acknowledgements[-1][1] if i.acknowledgements else None
                           for i in account.incidents.values()}
        webhooks = self._webhooks.snapshot()
        return {
            "users": [{"id": u.id, "name": u.name, "email": u.email} for u in account.users.values()],
            "incidents": [
                {"id": i.id, "number": i.number, "title": i.title, "status": i.status, "urgency": i.urgency,
                 "priority": i.priority, "assignees": list(i.assignee_ids), "service_id": i.service_id,
                 "escalation_policy_id": i.policy_id, "incident_key": i.incident_key,
                 "html_url": self.shapes.html_url(i), "acknowledged_by": acknowledged_by[i.id],
                 "resolved_by": i.resolved_by, "created_at": i.created_at.isoformat()}
                for i in account.incidents.values()
            ],
            "notes": [asdict(n) | {"created_at": n.created_at.isoformat()} for n in account.notes],
            "status_updates": self.status_updates.snapshot(),
            "responder_requests": [
                {"id": r.id, "incident_id": r.incident_id, "requester_id": r.requester_id, "message": r.message,
                 "targets": [{"type": kind, "id": id_} for kind, id_ in r.targets],
                 "responders": [x.user_id for x in r.responders]}
                for r in account.responder_requests
            ],
            "log_entries": [
                {"id": e.id, "type": e.type, "incident_id": e.incident_id, "summary": e.summary,
                 "agent": asdict(e.agent) if e.agent else None, "channel": e.channel, "note": e.note,
                 "created_at": e.created_at.isoformat()}
                for e in account.log_entries
            ],
            # Reports (issue 6): how many change events (deploys) the account holds; GET /change_events lists them.
            "change_events": len(self.history.change_events),
            "webhook_subscription": webhooks["subscription"],
            # Written through the configuration API (admin.py), as GET would answer them.
            "teams": [self.admin.team(t) for t in account.teams.values()],
            "escalation_policies": [self.shapes.policy(p) for p in account.policies.values()],
            "services": [self.shapes.service(s) for s in account.services.values()],
            "schedules": [schedule_json(s, self.shapes, None, None) for s in account.schedules.values()],
            "webhook_subscriptions": [self.admin.subscription(s) for s in self.admin.webhook_subscriptions.values()],
            "webhook_deliveries": webhooks["deliveries"],
            "calls": dict(self.calls),
        }

    # ---- REST pipeline -------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method.upper()
        route = next(((t, m, h) for verb, t, p, h in self._routes if verb == method and (m := p.match(path))), None)
        self.calls[f"{method} {route[0] if route else path}"] += 1
        if request.headers.get("Authorization") != f"Token token={self.api_token}":
            return _error(PagerDutyError(401, 2006, "Authentication failed"))
        allowed, limits = self._rate_limit(self.api_token)
        if not allowed:
            return _error(PagerDutyError(429, 2020, "Rate Limit Exceeded"), limits)
        raw = await request.read()  # in hand before it is held: carried out if its caller hangs up (hangups.py)
        await self.faults.delay("pagerduty", path, method)
        fault = self.faults.take("pagerduty", path, method)
        if fault is not None and not fault.after:
            return _fault_response(fault, limits)
        if route is None:
            return _error(PagerDutyError(404, 2100, "Not Found",
                                         [f"{method} {path} is not a PagerDuty API the sandbox emulates"]), limits)
        _template, match, handler = route
        if self.validator is not None:
            reason = self.validator.validate(method, path, request.query_string, request.headers, raw or None)
            if reason is not None:
                return _error(invalid(reason), limits)
        try:
            body = json.loads(raw) if raw else None
            if body is not None and not isinstance(body, dict):
                raise invalid("The request body must be a JSON object")
            call = Call(method, path, match.groupdict(), request.query, request.headers, body)
            status, payload = handler(call)
        except ValueError:  # only reachable without a validator: it refuses malformed JSON first
            return _error(invalid("The request body is not valid JSON"), limits)
        except PagerDutyError as error:
            return _error(error, limits)
        if fault is not None:  # done, and its answer lost on the way back
            return _fault_response(fault, limits)
        if status == 204:
            return web.Response(status=204, body=b"", headers=limits)
        return web.json_response(payload, status=status, headers=limits)

    def _rate_limit(self, key: str) -> tuple[bool, dict[str, str]]:
        """PagerDuty's per-key limit over a minute; the `ratelimit-*` headers go on every evaluated request."""
        limit = self.rate_limit_per_minute
        if limit <= 0:
            return True, {}
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if not 0 <= (now - start).total_seconds() < 60:  # a new minute (or the sandbox clock was set back)
            start, count = now, 0
        allowed = count < limit
        count += allowed
        self._windows[key] = (start, count)
        reset = max(1, math.ceil(60 - (now - start).total_seconds()))
        return allowed, {"ratelimit-limit": str(limit), "ratelimit-remaining": str(limit - count),
                         "ratelimit-reset": str(reset)}

    # ---- REST handlers -------------------------------------------------------------------------------------

    def _list_users(self, call: Call) -> tuple[int, Json]:
        query = call.query.get("query", "").lower()
        users = [u for u in self.account.users.values() if query in u.name.lower() or query in u.email.lower()]
        return 200, page(call, "users", [self.shapes.user(u) for u in users])

    def _get_user(self, call: Call) -> tuple[int, Json]:
        user = self.account.users.get(call.params["id"])
        if user is None:
            raise not_found(f"User {call.params['id']}")
        return 200, {"user": self.shapes.user(user)}

    def _list_incidents(self, call: Call) -> tuple[int, Json]:
        q = call.query
        statuses, services = set(q.getall("statuses[]", [])), set(q.getall("service_ids[]", []))
        urgencies, users = set(q.getall("urgencies[]", [])), set(q.getall("user_ids[]", []))
        key = q.get("incident_key")
        # since/until filter on created_at (date_range=all ignores them). PagerDuty's default of the last month when
        # neither is given is not emulated: the sandbox's live incidents are always recent.
        since, until = (None, None) if q.get("date_range") == "all" else (q.get("since"), q.get("until"))
        # An incident_key narrows the search through the index (index.py); otherwise every incident is a candidate.
        candidates = self.account.incidents.with_key(key) if key is not None else self.account.incidents.values()
        incidents = [
            i for i in candidates
            if (not statuses or i.status in statuses) and (not services or i.service_id in services)
            and (not urgencies or i.urgency in urgencies) and (not users or users & set(i.assignee_ids))
            and (key is None or i.incident_key == key) and in_range(i.created_at, since, until)
        ]
        return 200, page(call, "incidents", [self.shapes.incident(i) for i in incidents])

    def _get_incident(self, call: Call) -> tuple[int, Json]:
        return 200, {"incident": self.shapes.incident(self.account.incident(call.params["id"]))}

    def _create_incident(self, call: Call) -> tuple[int, Json]:
        user = self._from_user(call)
        body = wrapped(call, "incident")
        service = body.get("service")
        if not isinstance(service, dict) or not isinstance(body.get("title"), str):
            raise invalid("incident.title and incident.service are required")
        if body.get("assignments") and body.get("escalation_policy"):
            raise invalid("Assignments cannot be specified if an escalation policy is given")
        if body.get("urgency", "high") not in ("high", "low"):
            raise invalid("incident.urgency must be high or low")
        policy_id = ref_id(body.get("escalation_policy"))
        if policy_id is not None and policy_id not in self.account.policies:
            raise PagerDutyError(400, 1014, "Escalation Policy Not Found", [f"Escalation policy {policy_id}"])
        assignees = self._assignees(body["assignments"]) if body.get("assignments") else None
        priority = self.account.priority_name(body["priority"]) if body.get("priority") else None
        details = body.get("body", {}).get("details") if isinstance(body.get("body"), dict) else None
        incident = self.account.trigger(
            title=body["title"], service_id=str(service.get("id")), agent=Agent("user_reference", user.id),
            urgency=str(body.get("urgency", "high")), incident_key=body.get("incident_key"), details=details,
            policy_id=policy_id, assignee_ids=assignees, priority=priority,
        )
        return 201, {"incident": self.shapes.incident(incident)}

    def _update_incident(self, call: Call) -> tuple[int, Json]:
        user = self._from_user(call)
        incident = self.account.incident(call.params["id"])
        body = wrapped(call, "incident")
        # Check every reference before changing anything, so a refused request leaves the incident as it was.
        priority = self.account.priority_name(body["priority"]) if body.get("priority") is not None else None
        assignees = self._assignees(body["assignments"]) if body.get("assignments") else None
        policy_id = ref_id(body.get("escalation_policy"))
        status = body.get("status")
        if status == "acknowledged":
            self.account.acknowledge(incident, user)
        elif status == "resolved":
            self.account.resolve(incident, user, resolution=body.get("resolution"))
        elif status == "triggered":
            self.account.retrigger(incident, user)
        if isinstance(body.get("title"), str) and body["title"] != incident.title:
            self.account.set_title(incident, body["title"])
        if body.get("urgency") in ("high", "low") and body["urgency"] != incident.urgency:
            self.account.set_urgency(incident, user, body["urgency"])
        if "priority" in body and priority != incident.priority:
            self.account.set_priority(incident, user, priority)
        if assignees is not None:
            self.account.reassign(incident, user, assignees)
        if policy_id is not None:
            self.account.delegate(incident, user, policy_id)
        if isinstance(body.get("escalation_level"), int):
            self.account.escalate(incident, user, body["escalation_level"])
        return 200, {"incident": self.shapes.incident(incident)}

    def _list_notes(self, call: Call) -> tuple[int, Json]:
        incident = self.account.incident(call.params["id"])
        return 200, {"notes": [self.shapes.note(n) for n in self.account.notes.of(incident.id)]}

    def _create_note(self, call: Call) -> tuple[int, Json]:
        user = self._from_user(call)
        incident = self.account.incident(call.params["id"])
        content = wrapped(call, "note").get("content")
        if not isinstance(content, str) or not content:
            raise invalid("note.content is required")
        return 200, {"note": self.shapes.note(self.account.add_note(incident, user, content))}

    def _create_responder_request(self, call: Call) -> tuple[int, Json]:
        incident = self.account.incident(call.params["id"])
        body = call.body or {}
        requester = self.account.users.get(str(body.get("requester_id")))
        if requester is None:
            raise PagerDutyError(400, 1008, "Requester User Not Found", [f"User {body.get('requester_id')}"])
        targets = []
        for item in body.get("responder_request_targets") or []:
            target = item.get("responder_request_target") if isinstance(item, dict) else None
            if not isinstance(target, dict):
                raise invalid("responder_request_targets items must be {\"responder_request_target\": {id, type}}")
            targets.append((str(target.get("type")), str(target.get("id"))))
        if not targets:
            raise invalid("At least one responder request target is required")
        request = self.account.request_responders(incident, requester, str(body.get("message", "")), targets)
        return 200, {"responder_request": self.shapes.responder_request(request)}

    def _list_log_entries(self, call: Call) -> tuple[int, Json]:
        incident = self.account.incident(call.params["id"])
        entries = list(reversed(self.account.log_entries.of(incident.id)))  # newest first
        return 200, page(call, "log_entries", [self.shapes.log_entry(e) for e in entries])

    def _list_oncalls(self, call: Call) -> tuple[int, Json]:
        q = call.query
        policies, users = set(q.getall("escalation_policy_ids[]", [])), set(q.getall("user_ids[]", []))
        # The sandbox's policies target users directly, so any schedule filter matches nothing.
        schedules = q.getall("schedule_ids[]", [])
        oncalls = [
            o for o in self.shapes.oncalls()
            if not schedules and (not policies or o["escalation_policy"]["id"] in policies)
            and (not users or o["user"]["id"] in users)
        ]
        return 200, page(call, "oncalls", oncalls)

    def _list_services(self, call: Call) -> tuple[int, Json]:
        query = call.query.get("query", "").lower()
        services = [s for s in self.account.services.values() if query in s.name.lower()]
        return 200, page(call, "services", [self.shapes.service(s) for s in services])

    def _get_service(self, call: Call) -> tuple[int, Json]:
        service = self.account.services.get(call.params["id"])
        if service is None:
            raise not_found(f"Service {call.params['id']}")
        return 200, {"service": self.shapes.service(service)}

    def _list_policies(self, call: Call) -> tuple[int, Json]:
        query, users = call.query.get("query", "").lower(), set(call.query.getall("user_ids[]", []))
        policies = [p for p in self.account.policies.values()
                    if query in p.name.lower() and (not users or users & set(p.on_call))]
        return 200, page(call, "escalation_policies", [self.shapes.policy(p) for p in policies])

    def _get_policy(self, call: Call) -> tuple[int, Json]:
        policy = self.account.policies.get(call.params["id"])
        if policy is None:
            raise not_found(f"Escalation policy {call.params['id']}")
        return 200, {"escalation_policy": self.shapes.policy(policy)}

    # ---- schedules (the model is in schedules.py) ----------------------------------------------------------

    def _list_schedules(self, call: Call) -> tuple[int, Json]:
        query = call.query.get("query", "").lower()
        schedules = [s for s in self.account.schedules.values() if query in s.name.lower()]
        return 200, page(call, "schedules", [schedule_json(s, self.shapes, None, None) for s in schedules])

    def _schedule(self, call: Call) -> Schedule:
        schedule = self.account.schedules.get(call.params["id"])
        if schedule is None:
            raise not_found(f"Schedule {call.params['id']}")
        return schedule

    def _get_schedule(self, call: Call) -> tuple[int, Json]:
        schedule = self._schedule(call)
        since, until = time_range(call, required=False)
        return 200, {"schedule": schedule_json(schedule, self.shapes, since, until)}

    def _create_overrides(self, call: Call) -> tuple[int, Json]:
        schedule = self._schedule(call)
        requested = (call.body or {}).get("overrides")
        if not isinstance(requested, list) or not requested:
            raise invalid("overrides must be a non-empty list")
        results: list[Json] = []
        for item in requested:
            start, end = time_field(item, "start"), time_field(item, "end")
            user_id = ref_id(item.get("user"))
            errors = ([] if user_id in self.account.users else [f"User {user_id} not found"]) + (
                [] if start < end else ["Override must end after its start"])
            if errors:
                results.append({"status": 400, "errors": errors, "override": item})
                continue
            assert user_id is not None
            override = Override(random_id("Q", 14), start, end, user_id)
            schedule.overrides.append(override)
            results.append({"status": 201, "override": override_json(override, self.shapes)})
        return 201, results  # type: ignore[return-value]  # PagerDuty answers this one with a JSON array

    def _from_user(self, call: Call) -> User:
        email = call.headers.get("From", "").strip()
        if not email:
            raise invalid(FROM_MISSING)
        user = self.account.user_by_email(email)
        if user is None:
            raise PagerDutyError(400, 1008, "Requester User Not Found", [f"No user has the email address {email}"])
        return user

    def _assignees(self, assignments: object) -> list[str]:
        ids = [ref_id(a.get("assignee")) for a in assignments if isinstance(a, dict)] \
            if isinstance(assignments, list) else []
        unknown = [i for i in ids if i not in self.account.users]
        if unknown or not ids:
            raise PagerDutyError(400, 1007, "Assigned To User Not Found", [f"User {i}" for i in unknown])
        return [i for i in ids if i is not None]

    # ---- reports (issue 6): change events -------------------------------------------------------------------

    def _list_change_events(self, call: Call) -> tuple[int, Json]:
        events = self.history.list_change_events(call.query.get("since"), call.query.get("until"))
        return 200, page(call, "change_events", events)

    # ---- webhooks ------------------------------------------------------------------------------------------

    def _send_event(self, event: Event) -> str:
        moment = self._clock().astimezone(UTC)
        envelope = {"event": {
            "id": str(uuid.uuid4()), "event_type": event.event_type,
            "resource_type": event.event_type.split(".", 1)[0],
            "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "agent": self.shapes.agent_ref(event.agent), "client": None, "data": self.shapes.webhook_data(event),
        }}
        self._webhooks.enqueue(envelope)
        return str(envelope["event"]["id"])


def _error(error: PagerDutyError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=headers)


def _fault_response(fault: Fault, limits: dict[str, str]) -> web.Response:
    status, retry_after = fault.status, fault.retry_after
    if status == 429:
        # PagerDuty documents that a 429 may come without a body: injected ones do, to exercise that path.
        limit = limits.get("ratelimit-limit", "960")
        return web.Response(status=429, headers={"ratelimit-limit": limit, "ratelimit-remaining": "0",
                                                 "ratelimit-reset": str(retry_after)})
    if status >= 500:
        error = PagerDutyError(status, 2000, fault.error or "An internal error has occurred. PagerDuty team has been "
                               "notified.")
    else:
        code = {400: 2001, 401: 2006, 403: 2010, 404: 2100}.get(status, 2000)
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
        error = PagerDutyError(status, code, fault.error or message)
    return _error(error, limits)
