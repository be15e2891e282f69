"""A local ServiceNow: the Table API for `incident` under `/sandbox/servicenow/api/now/table`, the business rule that
tells the bot about tickets, and sandbox controls that act as a person in ServiceNow's UI.

`ServiceNowEmulator` is what the host builds and serves; the instance URL a client is given is
`<public_url>/sandbox/servicenow`. This module owns the Table API (basic or bearer authentication, an optional rate
limit, injected faults, ServiceNow's error bodies), the incident rules a real instance enforces (state codes, impact
and urgency 1-3, priority from the standard matrix, Resolution code and notes mandatory to resolve or close, journal
fields that append, short string fields cut to their column's length), the read-only `sys_user_group`, `sys_user`,
`sys_journal_field` (each entry's `sys_created_by` the user_name of whoever wrote it: the authenticated user, or the
person a control route acts as) and `sys_choice` (the incident close codes of a release, and the table's read ACL:
choices.py) tables, read ACLs a locked-down instance keeps (a table's refusing the query, 403; its rows' leaving them
out, 200 with none; a field's, answered empty), encoded queries (`sysparm_query`, parsed by `query.py`) and the state
snapshot. The control routes, a person in ServiceNow's UI, are in `control.py`; the business rule's script and the
ordered, signed delivery of its webhooks in `webhooks.py`.

Choices where the real instance is configurable or lenient: a condition on an unknown field matches no rows (as
with `glide.invalid_query.returns_no_rows`); an `assignment_group` that names no group is refused with 400 rather
than stored as a broken reference; a reference query compares sys_ids (use `assignment_group.name=X` for names);
an update that changes nothing is not saved and fires no business rule. A Closed or Canceled incident takes no update
through the Table API (403, the write ACL most instances keep on closed incidents: reopening one is an admin's act),
whoever asks; the control routes, a person in the UI, still may (as an admin would).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any

from aiohttp import web

from sandbox.faults import Fault, Faults
from sandbox.hangups import hangups_told
from sandbox.servicenow.attachments import ServiceNowAttachments
from sandbox.servicenow.choices import UPGRADED, close_code_rows, refused_read
from sandbox.servicenow.control import UI_USER, ServiceNowControls
from sandbox.servicenow.errors import CLOSED, ServiceNowError, closed_to_writes, json_body, no_record, not_authenticated
from sandbox.servicenow.index import JOURNALS, Journal, RowIndex, narrowed
from sandbox.servicenow.query import parse_query
from sandbox.servicenow.webhooks import BUSINESS_RULE_SCRIPT, CLIPPED, WebhookSender, clipped

# A record's `sys_created_by` is a String of 40 on a real instance: a longer user ID is stamped cut to it.
CREATED_BY_LENGTH = 40

__all__ = ["BUSINESS_RULE_SCRIPT", "PREFIX", "ServiceNowEmulator", "ServiceNowError"]

PREFIX = "/sandbox/servicenow"  # the instance URL's path
TABLE_PREFIX = "/api/now/table"

STATES = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
LEVELS = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
PRIORITIES = {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"}
CHOICES = {"state": STATES, "incident_state": STATES, "impact": LEVELS, "urgency": LEVELS, "priority": PRIORITIES}
REFERENCES = {"incident": {"assignment_group": "sys_user_group", "caller_id": "sys_user", "opened_by": "sys_user",
                           "resolved_by": "sys_user", "closed_by": "sys_user", "parent_incident": "incident"}}
DISPLAY = {"sys_user_group": "name", "sys_user": "name", "incident": "number"}  # a reference's display value
WRITABLE = frozenset({"short_description", "description", "category", "subcategory", "contact_type", "state",
                      "impact", "urgency", "assignment_group", "caller_id", "opened_by", "correlation_id",
                      "correlation_display", "x_pd_integration_incident", "close_code", "close_notes",
                      "parent_incident", *JOURNALS})
RESOLVED = ("6", "7")  # the states the "close info mandatory" data policy covers
# String fields of 255 characters or fewer are varchar columns: a longer value is cut to the column's length, silently
# (KB0685779). Longer ones (description 4000, the journals) are mediumtext: max_length is not enforced there.
VARCHAR = {"short_description": 160, "correlation_id": 100, "correlation_display": 100, "category": 40,
           "subcategory": 40, "contact_type": 40, "close_code": 40}
_DEFAULT_LIMIT = 10000
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
log = logging.getLogger(__name__)

Json = dict[str, Any]
Row = dict[str, str]


# ---- the emulator ------------------------------------------------------------------------------------------------


@dataclass
class JournalEntry:
    """One row of sys_journal_field: a work note or comment on an incident."""

    sys_id: str
    element_id: str
    element: str
    value: str
    created_by: str
    created_on: str

    def row(self) -> Row:
        return {"sys_id": self.sys_id, "element_id": self.element_id, "element": self.element, "name": "incident",
                "value": self.value, "sys_created_by": self.created_by[:CREATED_BY_LENGTH],
                "sys_created_on": self.created_on}


class ServiceNowEmulator:
    """ServiceNow for the sandbox and the tests. The host sets `webhook_url` and `public_url` (and, as the README's
    setup does, `integration_user`), serves `add_routes` and awaits `close()`; tests await `drain_webhooks()` before
    looking at what the bot received."""

    def __init__(self, *, groups: Sequence[str], faults: Faults, username: str, password: str,
                 webhook_secret: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 rate_limit_per_minute: int = 0, webhook_max_attempts: int = 3,
                 webhook_backoff_seconds: float = 0.1, webhook_timeout_seconds: float = 5.0) -> None:
        """`username`/`password`: the integration user the bot authenticates as (the password doubles as an OAuth
        bearer token). `rate_limit_per_minute`: 0 for none. The webhook_* knobs shape the business rule's retries."""
        self.faults, self.username, self.password = faults, username, password
        self.rate_limit_per_minute = rate_limit_per_minute
        self.public_url = "http://127.0.0.1"
        # The business rule's pavedroad.servicenow.integration_user property: updates by this user are not sent.
        # None (the property unset): every update is, the bot's own included.
        self.integration_user: str | None = None
        self.calls: Counter[str] = Counter()
        self.tables: dict[str, dict[str, Row]] = {"incident": {}, "sys_user_group": {}, "sys_user": {},
                                                  "sys_choice": close_code_rows(UPGRADED)}
        self.choices_readable = True  # False: sys_choice's read ACL refuses the integration user (403)
        # False: sys_choice's read ACL lets the query through but no row: ServiceNow leaves out the rows a user may not
        # read (200, no rows), it does not refuse.
        self.choice_rows_readable = True
        # "table.field"s a field-level read ACL hides from the Table API's user: answered empty, as ServiceNow does.
        self.unreadable_fields: set[str] = set()
        self.journal = Journal[JournalEntry]()
        # ServiceNow's sys_created_on is to the second and its entries of one second come back in no set order: True
        # hands them back newest first (what the bot must not rely on either way), where the sandbox keeps them in
        # the order written.
        self.journal_ties_newest_first = False
        # The incident fields clients look tickets up by (index.py): queries on them touch only the matching rows.
        self._incident_index = RowIndex(("sys_id", "number", "correlation_id", "x_pd_integration_incident"))
        self._clock = clock
        self._next_number = 10001
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._webhooks = WebhookSender(secret=webhook_secret, max_attempts=webhook_max_attempts,
                                       backoff_seconds=webhook_backoff_seconds, timeout_seconds=webhook_timeout_seconds)
        self.attachments = ServiceNowAttachments(self)
        self.controls = ServiceNowControls(self)
        for name in groups:
            self.add_group(name)
        self._user(username)

    @property
    def journal(self) -> Journal[JournalEntry]:
        """sys_journal_field, oldest first, indexed by sys_id and by record (whatever is assigned is wrapped)."""
        return self._journal

    @journal.setter
    def journal(self, entries: Iterable[JournalEntry]) -> None:
        self._journal = entries if isinstance(entries, Journal) else Journal[JournalEntry](entries)

    def entries_on(self, sys_id: str) -> list[JournalEntry]:
        """The journal entries written on one record, oldest first."""
        return self.journal.on(sys_id)

    # ---- host interface ------------------------------------------------------------------------------------

    @property
    def webhooks(self) -> WebhookSender:
        """The business rule's outbound queue (a test may hold a delivery back, as ServiceNow's retries can)."""
        return self._webhooks

    @property
    def webhook_url(self) -> str | None:
        """The bot's `POST /servicenow/webhook`, set by the host (the business rule's endpoint property)."""
        return self._webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._webhooks.url = url

    @property
    def instance_url(self) -> str:
        """What a client is configured with, e.g. `http://127.0.0.1:3000/sandbox/servicenow`."""
        return self.public_url.rstrip("/") + PREFIX

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", PREFIX + TABLE_PREFIX + "/{tail:.*}", hangups_told(self._api, log))
        self.controls.add_routes(app, PREFIX)
        self.attachments.add_routes(app, PREFIX)

    def add_group(self, name: str) -> str:
        """Add an assignment group (as an admin would); returns its sys_id, stable for a name."""
        existing = self._group_by_name(name)
        if existing is not None:
            return existing
        sys_id = hashlib.sha256(f"sys_user_group:{name}".encode()).hexdigest()[:32]
        now = self._now()
        self.tables["sys_user_group"][sys_id] = {"sys_id": sys_id, "name": name, "description": "", "active": "true",
                                                 "sys_created_on": now, "sys_updated_on": now}
        return sys_id

    def use_close_codes(self, release: str) -> None:
        """The incident close codes a release offers (choices.py: "tokyo", "utah", "upgraded"), as an admin sets."""
        self.tables["sys_choice"] = close_code_rows(release)

    def create_incident(self, fields: Mapping[str, object], *, user: str = UI_USER) -> Row:
        """Open a ticket as `user` would in ServiceNow's UI (business rule included); returns the stored row."""
        row, _changed = self._save(None, fields, user)
        return row

    def update_incident(self, sys_id: str, fields: Mapping[str, object], *, user: str = UI_USER) -> Row:
        row = self.tables["incident"].get(sys_id)
        if row is None:
            raise no_record()
        return self._save(row, fields, user)[0]

    async def drain_webhooks(self) -> None:
        await self._webhooks.drain()

    async def close(self) -> None:
        await self._webhooks.close()

    def snapshot(self) -> dict[str, object]:
        groups = self.tables["sys_user_group"]
        users = self.tables["sys_user"]

        def entries(sys_id: str, element: str) -> list[dict[str, str]]:
            return [{"value": j.value, "created_by": j.created_by, "created_on": j.created_on}
                    for j in self.journal.on(sys_id) if j.element == element]

        return {
            "incidents": [
                {"sys_id": r["sys_id"], "number": r["number"], "state": r["state"],
                 "correlation_id": r["correlation_id"], "x_pd_integration_incident": r["x_pd_integration_incident"],
                 "short_description": r["short_description"], "description": r["description"],
                 "assignment_group": groups[r["assignment_group"]]["name"] if r["assignment_group"] else "",
                 "category": r["category"], "close_code": r["close_code"], "close_notes": r["close_notes"],
                 "parent_incident": r["parent_incident"],
                 "impact": r["impact"], "urgency": r["urgency"], "priority": r["priority"],
                 "caller": users[r["caller_id"]]["user_name"] if r["caller_id"] else "",
                 "work_notes": entries(r["sys_id"], "work_notes"), "comments": entries(r["sys_id"], "comments"),
                 "attachments": self.attachments.of(r["sys_id"]),
                 "sys_created_by": r["sys_created_by"], "sys_updated_by": r["sys_updated_by"],
                 "sys_updated_on": r["sys_updated_on"]}
                for r in self.tables["incident"].values()
            ],
            "groups": [{"sys_id": g["sys_id"], "name": g["name"]} for g in groups.values()],
            "webhook_url": self.webhook_url,
            "integration_user": self.integration_user,
            "webhook_deliveries": self._webhooks.snapshot(),
            "calls": dict(self.calls),
        }

    # ---- Table API pipeline --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        table = parts[0] if parts else ""
        path = TABLE_PREFIX + "/" + "/".join(parts)
        method = request.method.upper()
        self.calls[f"{method} {TABLE_PREFIX}/{table}{'/{sys_id}' if len(parts) > 1 else ''}"] += 1
        try:
            user = self._authenticate(request)
            self._rate_limit(user)
            await request.read()  # in hand before it is held: carried out if its caller hangs up (hangups.py)
            fields = await _body_fields(request) if any(rule.with_field for rule in self.faults.rules) else None
            await self.faults.delay("servicenow", path, method, fields)
            # "PATCH /api/now/table/incident/" fails only updates
            fault = self.faults.take("servicenow", path, method, fields)
            if fault is not None and not fault.after:
                raise _fault_error(fault, path)
            status, payload, headers = await self._dispatch(request, method, table, parts[1:], user)
            if fault is not None:  # carried out, and its answer lost on the way back (a gateway timing out)
                raise _fault_error(fault, path)
        except ServiceNowError as error:
            return error.response()
        if payload is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    async def gate(self, request: web.Request, label: str) -> str:
        """What every API call goes through before its handler (the Table API's and the Attachment API's): counted,
        authenticated, rate-limited, delayed or failed by injected faults. Returns the user."""
        self.calls[label] += 1
        user = self._authenticate(request)
        self._rate_limit(user)
        path = label.partition(" ")[2]
        await request.read()  # in hand before it is held: carried out if its caller hangs up (hangups.py)
        await self.faults.delay("servicenow", path, request.method)
        fault = self.faults.take("servicenow", path, request.method)
        if fault is not None:
            raise _fault_error(fault, path)
        return user

    def now_text(self) -> str:
        return self._now()

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.password.encode()):
            return self.username
        if scheme.lower() == "basic":
            try:
                login, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
            except ValueError:
                raise not_authenticated() from None
            if hmac.compare_digest(login.encode(), self.username.encode()) and \
                    hmac.compare_digest(password.encode(), self.password.encode()):
                return self.username
        raise not_authenticated()

    def _rate_limit(self, user: str) -> None:
        """A rate-limit rule on the integration user: so many requests per minute, then 429 with Retry-After."""
        limit = self.rate_limit_per_minute
        if limit <= 0:
            return
        now = self._clock()
        start, count = self._windows.get(user, (now, 0))
        if (now - start).total_seconds() >= 60:
            start, count = now, 0
        if count >= limit:
            wait = max(1, math.ceil(60 - (now - start).total_seconds()))
            raise ServiceNowError(429, "Rate limit exceeded", f"More than {limit} requests in a minute for {user}",
                                  {"Retry-After": str(wait), "X-RateLimit-Limit": str(limit),
                                   "X-RateLimit-Reset": str(int(start.timestamp()) + 60)})
        self._windows[user] = (start, count + 1)

    async def _dispatch(self, request: web.Request, method: str, table: str, rest: list[str],
                        user: str) -> tuple[int, Json | None, dict[str, str]]:
        if not table or len(rest) > 1:
            raise ServiceNowError(400, "Requested URI does not represent any resource", None)
        if table not in (*self.tables, "sys_journal_field"):
            raise ServiceNowError(400, f"Invalid table {table}", None)
        sys_id = rest[0] if rest else None
        if table == "sys_choice" and method == "GET" and not self.choices_readable:
            raise refused_read()
        if method == "GET" and sys_id is None:
            return self._list(request, table, self._candidates(table, request.query.get("sysparm_query", "")))
        if method == "GET" and sys_id is not None:
            row = self._rows(table, [("sys_id", sys_id)]).get(sys_id)
            if row is None:
                raise no_record()
            return 200, {"result": self.render(request, table, row)}, {}
        if table != "incident" or method not in ("POST", "PUT", "PATCH", "DELETE") or \
                (method == "POST") != (sys_id is None):
            raise ServiceNowError(405, "Method not Supported",
                                  f"{method} is not supported on {TABLE_PREFIX}/{table}{'/{sys_id}' if sys_id else ''}"
                                  " in the sandbox")
        if method == "DELETE":
            assert sys_id is not None
            if self.tables["incident"].pop(sys_id, None) is None:
                raise no_record()
            self.journal = [j for j in self.journal if j.element_id != sys_id]
            return 204, None, {}
        body = await json_body(request)
        if method == "POST":
            row, _changed = self._save(None, body, user)
            location = f"{self.instance_url}{TABLE_PREFIX}/incident/{row['sys_id']}"
            return 201, {"result": self.render(request, table, row)}, {"Location": location}
        assert sys_id is not None
        existing = self.tables["incident"].get(sys_id)
        if existing is None:
            raise no_record()
        if existing["state"] in CLOSED:
            raise closed_to_writes()
        row, _changed = self._save(existing, body, user)
        return 200, {"result": self.render(request, table, row)}, {}

    def _rows(self, table: str, pairs: list[tuple[str, str]] | None = None) -> dict[str, Row]:
        """A table's rows by sys_id: all of them, or (journal only) those `pairs` name (see index.py)."""
        if table == "sys_journal_field":
            return self.journal.rows(pairs)
        return self.tables[table]

    def _candidates(self, table: str, query_text: str) -> list[Row]:
        """The rows that may match `sysparm_query`: those its equalities on indexed fields name, else all."""
        query = parse_query(query_text)
        if table == "sys_choice" and not self.choice_rows_readable:
            return []  # every row left out by its read ACL
        if table == "sys_journal_field":
            entries = list(self._rows(table, narrowed(query, ("sys_id", "element_id"))).values())
            return entries[::-1] if self.journal_ties_newest_first else entries  # (the ORDERBY's sort is stable)
        pairs = narrowed(query, self._incident_index.fields) if table == "incident" else None
        rows = self.tables[table]
        return list(rows.values()) if pairs is None else self._incident_index.candidates(rows, pairs)

    def _list(self, request: web.Request, table: str, rows: list[Row]) -> tuple[int, Json, dict[str, str]]:
        params = request.query
        query = parse_query(params.get("sysparm_query", ""))
        rows = query.sort([r for r in rows if query.matches(partial(self._value, table, r))],
                          partial(self._value, table))
        try:
            limit = int(params.get("sysparm_limit") or _DEFAULT_LIMIT)
            offset = int(params.get("sysparm_offset") or 0)
        except ValueError:
            raise ServiceNowError(400, "Invalid request", "sysparm_limit and sysparm_offset must be integers") \
                from None
        limit, offset = max(limit, 1), max(offset, 0)
        headers = {"X-Total-Count": str(len(rows))}
        if offset + limit < len(rows):
            following = request.url.update_query(sysparm_offset=str(offset + limit), sysparm_limit=str(limit))
            headers["Link"] = f'<{self.instance_url}{following.path_qs.removeprefix(PREFIX)}>;rel="next"'
        return 200, {"result": [self.render(request, table, r) for r in rows[offset:offset + limit]]}, headers

    # ---- records -------------------------------------------------------------------------------------------

    def _value(self, table: str, row: Row, field: str) -> str | None:
        """A field's stored value (a sys_id for references), dot-walking references; None for unknown fields."""
        head, dot, rest = field.partition(".")
        if not dot:
            return row.get(field)
        target_table = REFERENCES.get(table, {}).get(head)
        if target_table is None:
            return None
        target = self.tables[target_table].get(row.get(head, ""))
        return self._value(target_table, target, rest) if target is not None else ""

    def render(self, request: web.Request, table: str, row: Row) -> Json:
        """The record as the Table API answers, honouring sysparm_fields, sysparm_display_value and
        sysparm_exclude_reference_link."""
        params = request.query
        fields = [f.strip() for f in params.get("sysparm_fields", "").split(",") if f.strip()] or list(row)
        display = params.get("sysparm_display_value", "false").lower()
        display = display if display in ("true", "all") else "false"
        no_link = params.get("sysparm_exclude_reference_link", "").lower() == "true"
        result: Json = {}
        for field in fields:
            raw = self._value(table, row, field)
            if raw is None:
                continue
            if f"{table}.{field}" in self.unreadable_fields:
                result[field] = ""
                continue
            target = REFERENCES.get(table, {}).get(field)
            label = self.display(table, row, field, raw)
            if target is not None and raw:
                link = f"{self.instance_url}{TABLE_PREFIX}/{target}/{raw}"
                shapes: dict[str, Json] = {"false": {"link": link, "value": raw},
                                           "true": {"display_value": label, "link": link},
                                           "all": {"display_value": label, "link": link, "value": raw}}
                shape = shapes[display]
                if no_link:
                    shape.pop("link")
                result[field] = shape if len(shape) > 1 else next(iter(shape.values()))
            else:
                result[field] = {"false": raw, "true": label}.get(display, {"display_value": label, "value": raw})
        return result

    def display(self, table: str, row: Row, field: str, raw: str) -> str:
        target = REFERENCES.get(table, {}).get(field)
        if target is not None:
            return self.tables[target].get(raw, {}).get(DISPLAY[target], "")
        if table == "incident" and field in JOURNALS:  # the display value of a journal field is its history
            users = {u["user_name"]: u["name"] for u in self.tables["sys_user"].values()}
            return "".join(f"{j.created_on} - {users.get(j.created_by, j.created_by)} ({JOURNALS[field]})\n"
                           f"{j.value}\n\n" for j in reversed(self.journal.on(row["sys_id"]))
                           if j.element == field)
        return CHOICES.get(field, {}).get(raw, raw) if table == "incident" else raw

    def _save(self, row: Row | None, given: Mapping[str, object], user: str) -> tuple[Row, bool]:
        """Insert (`row` None) or update an incident as `user`, enforcing the instance's rules; run the business
        rule if anything was saved. Returns the row and whether it was saved."""
        values = {name: _as_string(name, raw)[:VARCHAR.get(name)] for name, raw in given.items() if name in WRITABLE}
        for name, allowed in (("state", STATES), ("impact", LEVELS), ("urgency", LEVELS)):
            if name in values and values[name] not in allowed:
                choices = ", ".join(f"{k} ({v})" for k, v in allowed.items())
                raise ServiceNowError(400, "Invalid choice value",
                                      f"{name}: {values[name]!r} is not a valid choice; use {choices}")
        for name, target in REFERENCES["incident"].items():
            if name in values:
                values[name] = self._reference(name, target, values[name])
        notes = {f: values.pop(f) for f in JOURNALS if f in values}
        notes = {f: text for f, text in notes.items() if text.strip()}
        now = self._now()
        base = row if row is not None else self._blank_incident(user, now)
        merged = base | values
        if merged["state"] in RESOLVED:
            labels = (("close_code", "Resolution code"), ("close_notes", "Resolution notes"))
            missing = [label for field, label in labels if not merged[field].strip()]
            if missing:
                raise ServiceNowError(403, "Operation Failed",
                                      "Data Policy Exception: \n The following fields are mandatory: "
                                      + ", ".join(missing))
        if row is not None and merged == row and not notes:
            return row, False
        previous = dict(row) if row is not None else None  # the business rule's `previous`
        self._derive(base, merged, user, now)
        if row is None:
            merged["sys_id"], merged["number"] = uuid.uuid4().hex, f"INC{self._next_number:07d}"
            self._next_number += 1
            self.tables["incident"][merged["sys_id"]] = merged
            row = merged
        else:
            row.update(merged)
        self._incident_index.note(row)
        for field, text in notes.items():
            self.journal.append(JournalEntry(uuid.uuid4().hex, row["sys_id"], field, text, user, now))
        self._business_rule(row, previous, "insert" if row["sys_mod_count"] == "0" else "update", notes)
        return row, True

    def _blank_incident(self, user: str, now: str) -> Row:
        row = {field: "" for field in ("sys_id", "number", "short_description", "description", "subcategory",
                                       "contact_type", "assignment_group", "caller_id", "correlation_id",
                                       "correlation_display", "x_pd_integration_incident", "close_code",
                                       "close_notes", "resolved_at", "resolved_by", "closed_at", "closed_by",
                                       "parent_incident", *JOURNALS)}
        return row | {"state": "1", "incident_state": "1", "impact": "3", "urgency": "3", "priority": "5",
                      "category": "inquiry", "active": "true", "opened_by": self._user(user), "opened_at": now,
                      "sys_class_name": "incident", "sys_created_on": now, "sys_created_by": user,
                      "sys_updated_on": now, "sys_updated_by": user, "sys_mod_count": "-1"}

    def _derive(self, before: Row, row: Row, user: str, now: str) -> None:
        """What the instance's own business rules set: priority, resolution and closure stamps, `active`."""
        row["priority"] = str(int(row["impact"]) + int(row["urgency"]) - 1)
        row["incident_state"] = row["state"]
        if row["state"] != before["state"] or before["sys_mod_count"] == "-1":
            if row["state"] in RESOLVED and not row["resolved_at"]:
                row["resolved_at"], row["resolved_by"] = now, self._user(user)
            if row["state"] == "7":
                row["closed_at"], row["closed_by"] = now, self._user(user)
            stale = ("closed_at", "closed_by") if row["state"] == "6" else () if row["state"] == "7" \
                else ("resolved_at", "resolved_by", "closed_at", "closed_by")  # reopened
            for field in stale:
                row[field] = ""
        row["active"] = "false" if row["state"] in ("7", "8") else "true"
        row["sys_updated_on"], row["sys_updated_by"] = now, user
        row["sys_mod_count"] = str(int(before["sys_mod_count"]) + 1)

    def _business_rule(self, row: Row, previous: Row | None, operation: str, notes: Mapping[str, str]) -> None:
        """The customer's "after insert/update" rule (see BUSINESS_RULE_SCRIPT): the same payload, queued, its long
        texts cut as the script cuts them. `previous`: the record before this update (None for an insert)."""
        if self.integration_user and row["sys_updated_by"] == self.integration_user:
            return  # the bot's own update: the script returns before sending it

        def group_name(record: Row | None) -> str:
            group = self.tables["sys_user_group"].get(record["assignment_group"]) if record else None
            return str(group["name"]) if group else ""
        payload = {
            "table": "incident", "operation": operation, "sys_id": row["sys_id"], "number": row["number"],
            "short_description": row["short_description"], "description": row["description"],
            "state": row["state"], "impact": row["impact"], "urgency": row["urgency"],
            "assignment_group": group_name(row), "category": row["category"],
            "correlation_id": row["correlation_id"], "x_pd_integration_incident": row["x_pd_integration_incident"],
            "updated_by": row["sys_updated_by"], "updated_on": row["sys_updated_on"],
            "work_notes": notes.get("work_notes", ""), "comments": notes.get("comments", ""),
            "close_notes": row["close_notes"], "previous_state": previous["state"] if previous else "",
            "previous_group": group_name(previous),
            "previous_impact": previous["impact"] if previous else "",
            "previous_urgency": previous["urgency"] if previous else "",
        }
        self._webhooks.enqueue(payload | {field: clipped(payload[field], most) for field, most in CLIPPED.items()})

    def _reference(self, field: str, table: str, value: str) -> str:
        """A reference written as a sys_id or a display value (a group's name, a user's user_name, an incident's
        number)."""
        if not value or value in self.tables[table]:
            return value
        if table == "sys_user":
            return self._user(value)
        if table == "incident":
            found = next((r["sys_id"] for r in self.tables["incident"].values() if r["number"] == value), None)
            known = "an incident's sys_id or number"
        else:
            found = self._group_by_name(value)
            known = "a sys_user_group's sys_id or name (known: " + ", ".join(
                g["name"] for g in self.tables["sys_user_group"].values()) + ")"
        if found is None:
            raise ServiceNowError(400, "Invalid reference", f"{field}: {value!r} is not {known}")
        return found

    def _group_by_name(self, name: str) -> str | None:
        return next((g["sys_id"] for g in self.tables["sys_user_group"].values() if g["name"] == name), None)

    def _user(self, user_name: str) -> str:
        """The sys_id of the sys_user with this user_name, made on first use."""
        users = self.tables["sys_user"]
        found = next((u["sys_id"] for u in users.values() if u["user_name"] == user_name), None)
        if found is not None:
            return found
        sys_id = hashlib.sha256(f"sys_user:{user_name}".encode()).hexdigest()[:32]
        name = " ".join(part.capitalize() for part in re.split(r"[._]", user_name) if part) or user_name
        users[sys_id] = {"sys_id": sys_id, "user_name": user_name, "name": name, "active": "true"}
        return sys_id

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _as_string(field: str, value: object) -> str:
    """Every value is a string in ServiceNow; JSON numbers and booleans are accepted and converted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    raise ServiceNowError(400, "Invalid request", f"{field}: expected a string, got {type(value).__name__}")


def _fault_error(fault: Fault, path: str) -> ServiceNowError:
    if fault.status == 401:
        return not_authenticated()
    if fault.status == 404:
        return no_record()
    if fault.status == 429:
        return ServiceNowError(429, "Rate limit exceeded", f"Too many requests to {path}",
                               {"Retry-After": str(fault.retry_after)})
    try:
        phrase = HTTPStatus(fault.status).phrase
    except ValueError:
        phrase = "Error"
    return ServiceNowError(fault.status, phrase, fault.error or f"Injected by the sandbox for {path}")


async def _body_fields(request: web.Request) -> dict[str, object]:
    """The fields a request's JSON body sets (none when it has no JSON object): for faults `with_field`. aiohttp
    keeps the body read, so the handler reads it again."""
    try:
        document = json.loads(await request.read() or b"null")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
