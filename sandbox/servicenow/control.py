"""The sandbox ServiceNow's control routes: a person in ServiceNow's UI (split out of emulator.py, which owns the
Table API and the records these act on).

Owns `POST /sandbox/servicenow/incidents` (open a ticket), `PATCH …/incidents/{sys_id}` (edit its fields),
`POST …/incidents/{sys_id}/work_notes|comments` (a journal entry), each as `"user"` (`UI_USER` unless told: a desk
agent, whose user_name ServiceNow stamps on what they write, `sys_created_by` of a journal entry included), and the
ticket page (`incident.do`) with the `nav_to.do` links people share. Changes go through the emulator's rules and
business rule, as the Table API's do.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from sandbox.lone_surrogates import shown
from sandbox.servicenow.errors import ServiceNowError, json_body
from sandbox.servicenow.index import JOURNALS

UI_USER = "service.desk"  # who acts in the control routes unless told otherwise

Json = dict[str, Any]
Row = dict[str, str]


class Written(Protocol):
    """A journal entry, as the ticket page shows it."""

    @property
    def element(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def created_by(self) -> str: ...
    @property
    def created_on(self) -> str: ...


class Instance(Protocol):
    """What the control routes need of the emulator (emulator.py) they belong to."""

    tables: dict[str, dict[str, Row]]

    def create_incident(self, fields: Mapping[str, object], *, user: str = UI_USER) -> Row: ...
    def update_incident(self, sys_id: str, fields: Mapping[str, object], *, user: str = UI_USER) -> Row: ...
    def render(self, request: web.Request, table: str, row: Row) -> Json: ...
    def display(self, table: str, row: Row, field: str, raw: str) -> str: ...
    def entries_on(self, sys_id: str) -> Sequence[Written]: ...


class ServiceNowControls:
    """The control routes, acting on the emulator's records as a person would."""

    def __init__(self, emulator: Instance) -> None:
        self._emulator = emulator
        self._prefix = ""

    def add_routes(self, app: web.Application, prefix: str) -> None:
        self._prefix = prefix
        app.router.add_post(prefix + "/incidents", self._create)
        app.router.add_patch(prefix + "/incidents/{sys_id}", self._update)
        app.router.add_post(prefix + "/incidents/{sys_id}/{element:work_notes|comments}", self._journal)
        app.router.add_get(prefix + "/incident.do", self._incident_page)
        app.router.add_get(prefix + "/nav_to.do", self._nav_to)

    async def _create(self, request: web.Request) -> web.Response:
        """`{"short_description", "assignment_group"? (name), "description"?, "category"?, "caller"?, "urgency"?,
        "impact"?, "user"?}` (and any other writable field) → 201 `{"result": record}`."""
        try:
            body = await json_body(request)
            if not str(body.get("short_description") or "").strip():
                raise ServiceNowError(400, "Operation Failed",
                                      "Data Policy Exception: \n The following fields are mandatory: Short description")
            fields = dict(body)
            if "caller" in fields:
                fields["caller_id"] = fields.pop("caller")
            row = self._emulator.create_incident(fields, user=str(body.get("user") or UI_USER))
        except ServiceNowError as error:
            return error.response()
        return web.json_response({"result": self._emulator.render(request, "incident", row)}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        """Edit a ticket's fields (`assignment_group` by name, `state`, ...) as `"user"` → `{"result": record}`."""
        try:
            body = await json_body(request)
            row = self._emulator.update_incident(request.match_info["sys_id"], body,
                                                 user=str(body.get("user") or UI_USER))
        except ServiceNowError as error:
            return error.response()
        return web.json_response({"result": self._emulator.render(request, "incident", row)})

    async def _journal(self, request: web.Request) -> web.Response:
        """`{"text", "user"?}` → appends a work note or comment → 201 `{"result": record}`."""
        element = request.match_info["element"]
        try:
            body = await json_body(request)
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ServiceNowError(400, "Invalid request", "text is required")
            row = self._emulator.update_incident(request.match_info["sys_id"], {element: text},
                                                 user=str(body.get("user") or UI_USER))
        except ServiceNowError as error:
            return error.response()
        return web.json_response({"result": self._emulator.render(request, "incident", row)}, status=201)

    async def _nav_to(self, request: web.Request) -> web.Response:
        """`nav_to.do?uri=incident.do?sys_id=...`, the form of ticket link people share."""
        raise web.HTTPFound(self._prefix + "/" + request.query.get("uri", "incident.do").lstrip("/"))

    async def _incident_page(self, request: web.Request) -> web.Response:
        row = self._emulator.tables["incident"].get(request.query.get("sys_id", ""))
        if row is None:
            raise web.HTTPNotFound(text="No such incident in the sandbox's ServiceNow")
        e, shown_as = html.escape, self._emulator.display
        group = shown_as("incident", row, "assignment_group", row["assignment_group"]) or "no group"
        journal = "".join(f"<li>{e(j.created_on)} {e(j.created_by)} ({e(JOURNALS[j.element])}): {e(j.value)}</li>"
                          for j in reversed(self._emulator.entries_on(row["sys_id"])))
        return web.Response(content_type="text/html", text=shown(
            f"<!doctype html><title>{e(row['number'])} {e(row['short_description'])}</title>"
            f"<h1>{e(row['number'])} {e(row['short_description'])}</h1>"
            f"<p>{e(shown_as('incident', row, 'state', row['state']))} · priority "
            f"{e(shown_as('incident', row, 'priority', row['priority']))} · {e(group)} · "
            f"correlation {e(row['correlation_id'] or 'none')}</p><p>{e(row['description'])}</p>"
            f"<h2>Activity</h2><ul>{journal}</ul>"
        ))

