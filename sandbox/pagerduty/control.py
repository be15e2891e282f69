"""The sandbox's stand-ins for what happens outside PagerDuty's API: a monitoring alert, and a person in PagerDuty's
web app (documented in the README's sandbox section).

Owns `POST /sandbox/pagerduty/incidents` (trigger as an alert would), `POST /sandbox/pagerduty/incidents/{id}/
{action}` (act as a PagerDuty user: JSON `{"user": email, ...}`, or the form on the incident page),
`POST /sandbox/pagerduty/webhooks/enable`, and the bare page every incident's `html_url` opens. Changes go through
the same account rules, log attribution and webhooks as the REST API's.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from sandbox.lone_surrogates import shown
from sandbox.pagerduty.basics import Json, PagerDutyError, invalid
from sandbox.pagerduty.model import Account, Incident, User
from sandbox.pagerduty.shapes import Shapes

PREFIX = "/sandbox/pagerduty"
# What the trigger route takes: any other key is refused, naming it (`service` for `service_id`, ignored, triggered
# the incident on the first service).
TRIGGER_KEYS = ("title", "service_id", "urgency")
ACTIONS = ("acknowledge", "resolve", "unacknowledge", "escalate", "reassign", "delegate", "priority", "note")


def valid_actions(status: str) -> tuple[str, ...]:
    """What PagerDuty's UI offers on an incident in this state (what the account would not refuse): a resolved
    incident takes only notes; an acknowledged one can be unacknowledged but not acknowledged again."""
    if status == "resolved":
        return ("note",)
    return tuple(a for a in ACTIONS if a != ("acknowledge" if status == "acknowledged" else "unacknowledge"))


class Trigger(Protocol):
    """Open an incident as a monitoring alert would; answers it in REST shape (`PagerDutyEmulator.trigger`)."""

    def __call__(self, *, title: str, service_id: str | None = None, urgency: str = "high") -> Awaitable[Json]: ...


class PagerDutyControls:
    """The control routes, acting on the account; `trigger` and `enable_webhooks` are the emulator's."""

    def __init__(self, account: Account, shapes: Shapes, *, trigger: Trigger,
                 enable_webhooks: Callable[[], None],
                 after_trigger: Callable[[Json], Awaitable[Json]] | None = None) -> None:
        self.account, self.shapes = account, shapes
        self._trigger_incident, self._enable = trigger, enable_webhooks
        self._after_trigger = after_trigger

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PREFIX + "/incidents", self._trigger)
        app.router.add_get(PREFIX + "/incidents/{id}", self._incident_page)
        app.router.add_post(PREFIX + "/incidents/{id}/{action}", self._action)
        app.router.add_post(PREFIX + "/webhooks/enable", self._enable_webhooks)

    async def _trigger(self, request: web.Request) -> web.Response:
        """`{"title", "service_id"?, "urgency"?}` → 201 `{"incident": {...}}`; the default service is the first. Any
        other key: 400 naming it and the keys it takes.
        With a host's `after_trigger` (the one-port sandbox: where the incident landed in Slack), its fields too."""
        fields = await _fields(request)
        if unknown := [key for key in fields if key not in TRIGGER_KEYS]:
            return _error(invalid(f"unknown key(s) {', '.join(map(repr, unknown))}; the keys it takes are "
                                  f"{', '.join(TRIGGER_KEYS)} (only title is required)"))
        title = fields.get("title")
        if not isinstance(title, str) or not title.strip():
            return _error(invalid("title is required"))
        try:
            incident = await self._trigger_incident(title=title, service_id=fields.get("service_id") or None,
                                                    urgency=str(fields.get("urgency") or "high"))
        except PagerDutyError as error:
            return _error(error)
        extra = await self._after_trigger(incident) if self._after_trigger is not None else {}
        return web.json_response({"incident": incident, **extra}, status=201)

    async def _action(self, request: web.Request) -> web.Response:
        action, incident_id = request.match_info["action"], request.match_info["id"]
        fields = await _fields(request)
        form = request.content_type == "application/x-www-form-urlencoded"
        try:
            if action not in ACTIONS:
                raise PagerDutyError(404, 2100, "Not Found", [f"Unknown action {action}; use one of {ACTIONS}"])
            incident = self.account.incident(incident_id)
            self._act(action, incident, self._actor(incident, fields.get("user")), fields)
        except PagerDutyError as error:
            if form:  # back to the page, which shows the error
                raise web.HTTPSeeOther(f"{PREFIX}/incidents/{incident_id}?error={quote(error.message)}") from None
            return _error(error)
        if form:
            raise web.HTTPSeeOther(f"{PREFIX}/incidents/{incident.id}")
        return web.json_response({"incident": self.shapes.incident(incident)})

    def _act(self, action: str, incident: Incident, user: User, fields: dict[str, Any]) -> None:
        account = self.account
        if action == "acknowledge":
            account.acknowledge(incident, user, channel="website")
        elif action == "resolve":
            account.resolve(incident, user, channel="website")
        elif action == "unacknowledge":  # what an acknowledgement timeout does
            account.unacknowledge(incident)
        elif action == "escalate":
            account.escalate(incident, user, channel="website")
        elif action == "reassign":  # {"to": email or [emails]}
            emails = fields.get("to") or []
            targets = [account.user_by_email(e) for e in ([emails] if isinstance(emails, str) else emails)]
            if not targets or None in targets:
                raise PagerDutyError(400, 1007, "Assigned To User Not Found", [f"to: {emails}"])
            account.reassign(incident, user, [t.id for t in targets if t], channel="website")
        elif action == "delegate":  # {"escalation_policy_id"}
            account.delegate(incident, user, str(fields.get("escalation_policy_id")), channel="website")
        elif action == "priority":  # {"priority": "P1"} or null to clear
            priority = fields.get("priority")
            account.set_priority(incident, user, account.priority_name(priority) if priority else None)
        elif action == "note":  # {"content"}
            if not fields.get("content"):
                raise invalid("content is required")
            account.add_note(incident, user, str(fields["content"]), channel="website")

    def _actor(self, incident: Incident, email: object) -> User:
        """The PagerDuty user acting in the web app: the one named, else the first assignee (or on-call)."""
        account = self.account
        if isinstance(email, str) and email:
            user = account.user_by_email(email)
            if user is None:
                raise PagerDutyError(400, 1008, "Requester User Not Found", [f"No user has the email address {email}"])
            return user
        policy = account.policies.get(incident.policy_id or "")
        user_id = next(iter(incident.assignee_ids or (policy.on_call if policy else []) or list(account.users)), None)
        if user_id is None:
            raise invalid("The account has no users")
        return account.users[user_id]

    async def _enable_webhooks(self, request: web.Request) -> web.Response:
        """Re-enable the subscription PagerDuty disables after three dropped deliveries in a row."""
        self._enable()
        return web.json_response({"ok": True})

    async def _incident_page(self, request: web.Request) -> web.Response:
        """What `html_url` opens: the incident, its notes and log, and buttons acting as a chosen PagerDuty user."""
        try:
            incident = self.account.incident(request.match_info["id"])
        except PagerDutyError:
            raise web.HTTPNotFound(text="No such incident in the sandbox's PagerDuty") from None
        e, account = html.escape, self.account
        users = "".join(f"<option>{e(u.email)}</option>" for u in account.users.values())
        forms = "".join(
            f'<form method="post" action="{incident.id}/{a}"><select name="user">{users}</select>'
            f"<button>{a}</button></form>" for a in ("acknowledge", "resolve", "escalate")
            if a in valid_actions(incident.status)
        )
        log = "".join(f"<li>{e(x.created_at.isoformat())} {e(x.summary)}</li>"
                      for x in account.log_entries if x.incident_id == incident.id)
        notes = "".join(f"<li>{e(account.users[n.user_id].name)}: {e(n.content)}</li>"
                        for n in account.notes if n.incident_id == incident.id)
        error = f"<p><strong>{e(request.query['error'])}</strong></p>" if "error" in request.query else ""
        assignees = ", ".join(account.users[u].name for u in incident.assignee_ids) or "nobody"
        return web.Response(content_type="text/html", text=shown(
            f"<!doctype html><title>#{incident.number} {e(incident.title)}</title>"
            f"<h1>#{incident.number} {e(incident.title)}</h1>{error}"
            f"<p>{e(incident.status)} · {e(incident.urgency)} urgency · priority {e(incident.priority or 'none')} · "
            f"{e(account.services[incident.service_id].name)} · assigned to {e(assignees)}</p>{forms}"
            f'<form method="post" action="{incident.id}/note"><select name="user">{users}</select>'
            f'<input name="content" placeholder="Add a note"><button>note</button></form>'
            f"<h2>Notes</h2><ul>{notes}</ul><h2>Log</h2><ul>{log}</ul>"
        ))


async def _fields(request: web.Request) -> dict[str, Any]:
    """JSON, or the incident page's form."""
    if request.content_type == "application/x-www-form-urlencoded":
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(error: PagerDutyError) -> web.Response:
    return web.json_response(error.body(), status=error.status)
