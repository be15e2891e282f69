"""ServiceNow's error answers, shared by the emulator's Table API (emulator.py), Attachment API (attachments.py) and
control routes (control.py), and the reading of a request's JSON body they share (its error is ServiceNow's 400)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class ServiceNowError(Exception):
    """An answer in ServiceNow's error shape: `{"error": {"message", "detail"}, "status": "failure"}`."""

    def __init__(self, status: int, message: str, detail: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail, self.headers = status, message, detail, dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response({"error": {"message": self.message, "detail": self.detail}, "status": "failure"},
                                 status=self.status, headers=self.headers)


def not_authenticated() -> ServiceNowError:
    return ServiceNowError(401, "User Not Authenticated", "Required to provide Auth information",
                           {"WWW-Authenticate": 'BASIC realm="Service-now"'})


def no_record() -> ServiceNowError:
    return ServiceNowError(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")


CLOSED = ("7", "8")  # Closed, Canceled: the write ACL refuses every update of such an incident, and attachments to it


def closed_to_writes() -> ServiceNowError:
    """The write ACL on a Closed or Canceled incident: what most instances answer an update of one."""
    return ServiceNowError(403, "Operation Failed", "ACL Exception Update Failed due to security constraints")


async def json_body(request: web.Request) -> dict[str, Any]:
    """A request's JSON object ({} for an empty body), or ServiceNow's 400."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ServiceNowError(400, "Exception while reading request", "The payload is not valid JSON.")
    return body
