"""The PagerDuty emulator's priorities (`GET /priorities`) and incident status updates
(`POST /incidents/{id}/status_updates`), as the OpenAPI document describes them.

A status update needs the `From` header of a user of the account and a non-empty `message` (`subject` and
`html_message` go together, for a custom e-mail); it is answered `{"status_update": {...}}` and followed by the
`incident.status_update_published` webhook, whose data is an `incident_status_update` as PagerDuty documents it.
A resolved incident still takes updates (a closing note to stakeholders), as PagerDuty allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sandbox.pagerduty.basics import Json, PagerDutyError, invalid, iso, random_id
from sandbox.pagerduty.model import Account, Agent, Event, User
from sandbox.pagerduty.openapi import FROM_MISSING
from sandbox.pagerduty.rest import Call, Handler, page
from sandbox.pagerduty.shapes import Shapes


@dataclass
class StatusUpdate:
    id: str
    incident_id: str
    sender_id: str
    message: str
    created_at: datetime
    subject: str | None = None
    html_message: str | None = None


class PagerDutyStatusUpdates:
    """The account's status updates, the endpoints that read and write them, and their part of the snapshot."""

    def __init__(self, account: Account, shapes: Shapes, send_event: Callable[[Event], object]) -> None:
        self.account, self.shapes, self._send_event = account, shapes, send_event
        self.status_updates: list[StatusUpdate] = []

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", "/priorities", self._list_priorities),
                ("POST", "/incidents/{id}/status_updates", self._create_status_update)]

    def _list_priorities(self, call: Call) -> tuple[int, Json]:
        # Most severe first, as PagerDuty lists them.
        return 200, page(call, "priorities", [
            self.shapes.ref("priority", pid, name, html="account/incident_priorities") | {
                "name": name, "description": f"{name} incidents"}
            for name, pid in self.account.priorities.items()])

    def _create_status_update(self, call: Call) -> tuple[int, Json]:
        sender = self._sender(call)
        incident = self.account.incident(call.params["id"])
        body = call.body or {}
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            raise invalid("message is required")
        subject, html_message = body.get("subject"), body.get("html_message")
        if (subject is None) != (html_message is None):
            raise invalid("subject and html_message must be given together, for a custom html email")
        update = StatusUpdate(random_id("P", 6), incident.id, sender.id, message, self.account.now(),
                              str(subject) if subject is not None else None,
                              str(html_message) if html_message is not None else None)
        self.status_updates.append(update)
        self._send_event(Event("incident.status_update_published", Agent("user_reference", sender.id), incident,
                               data={"incident": self.shapes.ref("incident", incident.id, incident.title),
                                     "id": update.id, "message": message, "trimmed": False,
                                     "type": "incident_status_update"}))
        return 200, {"status_update": self.status_update(update)}

    def status_update(self, update: StatusUpdate) -> Json:
        shown: Json = {"id": update.id, "message": update.message, "created_at": iso(update.created_at),
                       "sender": self.shapes.user_ref(update.sender_id)}
        if update.subject is not None:
            shown |= {"subject": update.subject, "html_message": update.html_message}
        return shown

    def snapshot(self) -> list[Json]:
        return [self.status_update(u) | {"incident_id": u.incident_id} for u in self.status_updates]

    def _sender(self, call: Call) -> User:
        email = call.headers.get("From", "").strip()
        if not email:
            raise invalid(FROM_MISSING)
        user = self.account.user_by_email(email)
        if user is None:
            raise PagerDutyError(400, 1008, "Requester User Not Found", [f"No user has the email address {email}"])
        return user
