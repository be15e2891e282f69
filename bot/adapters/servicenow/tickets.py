"""ServiceNow adapter: the Tickets port over the Table API (aiohttp, basic auth).

Knows the Table API's paths, query syntax, journal table (and which of its entries the bot's own user wrote: its
`sys_created_by`, `work_notes(own=True)`) and error body; every failure becomes IntegrationError
(retryable for timeouts, 5xx and 429, with Retry-After when ServiceNow gives one). A 401 is put to `judge_refusal`:
ServiceNow refusing the bot's own credentials, not the call (`credentials_refused`), or the call alone; every call
answered is told to `on_accepted` (credentials.py keeps what they say). Knows the incident table's field lengths
too: whatever the caller wrote, no field goes out longer than its column keeps (a longer short description would be
cut by the database without an ellipsis) or than a request can carry.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.adapters.json_body import json_text
from bot.app.config import ServiceNowAccess
from bot.domain.ticket_rules import CLOSED, CREATED_BY_LENGTH
from bot.errors import NOT_SENT, IntegrationError
from bot.metrics import Metrics
from bot.ports import Ticket
from bot.ports.answers import answered
from bot.render.format import clip

log = logging.getLogger(__name__)
FIELDS = "sys_id,number,state"
# sys_choice's close codes are read this many rows a page (a row per code per language), this many pages at most.
CHOICE_PAGE_ROWS = 1000
CHOICE_PAGES = 10
JOURNAL_PAGE_ROWS, JOURNAL_PAGES = 1000, 20  # a ticket's journal read: 20,000 entries at most
# The incident table's dictionary lengths; the journals (work notes, comments) are mediumtext (16 MB): capped well
# under it, and under the REST request size, without ever cutting a normal batch of notes.
FIELD_LENGTHS = {"short_description": 160, "description": 4_000, "close_notes": 4_000, "correlation_id": 100,
                 "correlation_display": 100, "close_code": 40, "category": 40, "work_notes": 1_000_000,
                 "comments": 1_000_000}


class ServiceNowTickets:
    def __init__(self, access: ServiceNowAccess, metrics: Metrics, timeout: float = 10.0,
                 integration_field: str | None = None) -> None:
        self._access, self._metrics, self._integration_field = access, metrics, integration_field
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._authors_unsaid_told = False  # (the journal's authors hidden: logged once)
        # Who the bot's journal entries are by: its user ID, and the ones it had before, each as ServiceNow stamps it
        # (cut to the field's length: an e-mail-like ID longer than that never matched, and every note was written
        # again on each retry).
        names = [name.strip().lower() for name in (access.username, *access.previous_usernames) if name.strip()]
        self._own_authors = frozenset(names) | {name[:CREATED_BY_LENGTH] for name in names}
        # Asked of a 401 (the call, when it was sent: time.monotonic) whether ServiceNow refuses the credentials or
        # that call alone, and told of every call answered (when it was sent): credentials.py's `judge`, `accepted`.
        self.judge_refusal: Callable[[str, float], Awaitable[bool]] | None = None
        self.on_accepted: Callable[[float], None] | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:  # an effect still finishing as the bot stops: it stays in the outbox and is retried
            raise IntegrationError("servicenow", "the bot is stopping; not calling ServiceNow now", retryable=True,
                                   code=NOT_SENT)
        if self._session is None or self._session.closed:
            credentials = base64.b64encode(f"{self._access.username}:{self._access.password}".encode()).decode()
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Accept": "application/json", "Authorization": f"Basic {credentials}"},
                json_serialize=json_text)
        return self._session

    async def _call(self, method: str, path: str, label: str, *, params: dict[str, str] | None = None,
                    body: dict[str, Any] | None = None, file: tuple[str, bytes] | None = None,
                    judged: bool = True) -> Any:
        """The Table (or Attachment) API's JSON answer; IntegrationError otherwise. `judged`: a 401 is put to
        `judge_refusal` (the credentials' check itself is not: its 401 is the credentials')."""
        url = f"{self._access.instance_url}{path}"
        # A file goes as the raw body with its own Content-Type (the Attachment API's contract), JSON otherwise.
        sent: dict[str, Any] = {"data": file[1], "headers": {"Content-Type": file[0]}} if file else {"json": body}
        sent_at = time.monotonic()
        try:
            async with self._client().request(method, url, params=params, **sent) as response:
                text = await response.text()
                if response.status == 401:
                    refusal = text  # judged once the answer is let go: the judge may ask ServiceNow itself
                elif response.status >= 400:
                    raise self._error(label, response.status, text, response.headers.get("Retry-After"))
                else:
                    return self._answer(label, response.status, text, sent_at)
        except (aiohttp.ClientError, TimeoutError) as error:
            self._metrics.call("servicenow", label, "network_error").inc()
            # No connection made (refused, DNS): nothing was sent (a timeout may have come after ServiceNow acted).
            unsent = isinstance(error, aiohttp.ClientConnectorError)
            raise IntegrationError("servicenow", f"{label}: could not reach ServiceNow ({error.__class__.__name__})",
                                   retryable=True, code=NOT_SENT if unsent else None) from None
        refused = not judged or self.judge_refusal is None or await self.judge_refusal(label, sent_at)
        raise self._error(label, 401, refusal, None, credentials_refused=refused)

    def _answer(self, label: str, status: int, text: str, sent_at: float) -> Any:
        answer = _document(text)  # the text read above, not decoded twice
        if answer is None or "result" not in answer:
            # A hibernating instance's page or a sign-on proxy's form with HTTP 200, or an empty answer: ServiceNow has
            # not answered yet (nor said whether it acted), so it is tried again. (Read as "nothing found", an empty
            # answer made a second ticket, and wrote a note again.)
            self._metrics.call("servicenow", label, "not_json").inc()
            said = "is empty" if not text.strip() else "is not JSON" if answer is None else "has no result"
            raise IntegrationError("servicenow", f"{label}: HTTP {status} answer {said}: {_gist(text)}",
                                   retryable=True)
        self._metrics.call("servicenow", label, "ok").inc()
        answered("servicenow", read=label.startswith("GET "))
        if self.on_accepted is not None:  # only the Table API's own answer says the credentials passed
            self.on_accepted(sent_at)
        return answer

    def _error(self, label: str, status: int, text: str, retry_after: str | None, *,
               credentials_refused: bool = False) -> IntegrationError:
        self._metrics.call("servicenow", label, str(status)).inc()
        detail = text[:300]
        with contextlib.suppress(ValueError, AttributeError):
            error = json.loads(text).get("error") or {}
            detail = f"{error.get('message', '')}: {error.get('detail', '')}".strip(": ")
        # A 401 refusing the credentials is every call's until someone mends the integration user (one an API's own
        # access policy answers is that call's, as a 403 for an ACL on a table or field is).
        return IntegrationError("servicenow", f"{label}: HTTP {status} {detail}", status=status, code=str(status),
                                retryable=status == 429 or status >= 500, credentials_refused=credentials_refused,
                                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)

    def _ticket(self, record: dict[str, Any]) -> Ticket:
        sys_id = str(record["sys_id"])
        # A reference comes as {"link", "value"} (a plain string with sysparm_exclude_reference_link), "" when empty.
        parent = record.get("parent_incident") or ""
        return Ticket(sys_id=sys_id, number=str(record.get("number") or ""), state=str(record.get("state") or ""),
                      link=f"{self._access.instance_url}/nav_to.do?uri=incident.do?sys_id={sys_id}",
                      parent=str(parent.get("value") or "" if isinstance(parent, dict) else parent))

    async def find(self, incident_id: str) -> Ticket | None:
        field = self._integration_field
        # Newest first: an incident open again after its ticket was closed has a follow-on with the same correlation
        # id (ticket_follow_ons.py); the open one is the ticket, else the latest closed one is.
        query = f"correlation_id={incident_id}" + (f"^OR{field}={incident_id}" if field else "") + \
            "^ORDERBYDESCsys_created_on^ORDERBYDESCnumber"
        found = await self._call("GET", "/api/now/table/incident", "GET incident", params={
            "sysparm_query": query, "sysparm_fields": f"{FIELDS},correlation_id" + (f",{field}" if field else ""),
            "sysparm_limit": "10"})
        # Checked, not trusted: an instance that lacks the field may ignore that condition and match anything.
        matched = [self._ticket(record) for record in found.get("result") or []
                   if incident_id in (record.get("correlation_id"), record.get(field) if field else None)]
        return next((t for t in matched if t.state not in CLOSED), matched[0] if matched else None)

    async def create(self, fields: dict[str, str]) -> Ticket:
        created = await self._call("POST", "/api/now/table/incident", "POST incident", body=_fitted(fields))
        return self._ticket(created["result"])

    async def get(self, sys_id: str) -> Ticket | None:
        try:
            found = await self._call("GET", f"/api/now/table/incident/{sys_id}", "GET incident/{id}",
                                     params={"sysparm_fields": f"{FIELDS},parent_incident"})
        except IntegrationError as error:
            if error.status == 404:
                return None
            raise
        return self._ticket(found["result"])

    async def update(self, sys_id: str, fields: dict[str, str]) -> None:
        await self._call("PATCH", f"/api/now/table/incident/{sys_id}", "PATCH incident/{id}", body=_fitted(fields))

    async def description(self, sys_id: str) -> str:
        try:
            found = await self._call("GET", f"/api/now/table/incident/{sys_id}", "GET incident/{id}",
                                     params={"sysparm_fields": "description"})
        except IntegrationError as error:
            if error.status == 404:
                return ""
            raise
        return str(found["result"].get("description") or "")

    async def work_notes(self, sys_id: str, *, own: bool = True) -> list[str]:
        return await self._journal(sys_id, "work_notes", own)

    async def comments(self, sys_id: str, *, own: bool = True) -> list[str]:
        return await self._journal(sys_id, "comments", own)

    async def _journal(self, sys_id: str, element: str, own: bool) -> list[str]:
        # Oldest first, page by page until one comes short (JOURNAL_PAGES at most): what is looked for here is mostly
        # the newest (the name a channel was last told by, a note a lost attempt wrote), and a long incident's ticket
        # holds more notes than a page — read from the first 1,000 alone, a rename was told from a stale name and a
        # note written twice (found in review).
        values: list[str] = []
        for page in range(JOURNAL_PAGES):
            found = await self._call("GET", "/api/now/table/sys_journal_field", "GET sys_journal_field", params={
                "sysparm_query": f"element_id={sys_id}^element={element}^ORDERBYsys_created_on",
                "sysparm_fields": "value,sys_created_by", "sysparm_limit": str(JOURNAL_PAGE_ROWS),
                "sysparm_offset": str(page * JOURNAL_PAGE_ROWS)})
            rows = found.get("result") or []
            values += [str(r.get("value") or "") for r in rows if not own or self._written_by_the_bot(r, sys_id)]
            if len(rows) < JOURNAL_PAGE_ROWS:
                return values
        log.warning("GET sys_journal_field: ticket %s has more than %d %s entries (%d pages); the later ones are "
                    "not read", sys_id, JOURNAL_PAGES * JOURNAL_PAGE_ROWS, element, JOURNAL_PAGES)
        return values

    def _written_by_the_bot(self, entry: dict[str, Any], sys_id: str) -> bool:
        """Whether the bot's own integration user wrote this journal entry: ServiceNow stamps an entry's
        `sys_created_by` with the user ID of the session that wrote it — with basic authentication, the one in the
        request's Authorization header (ServiceNow's "Basic authentication" page), SERVICENOW_USERNAME; compared
        regardless of case, as webhook.py's echo check is (the variable may be typed in another case than the user
        record's), and the users it was before (SERVICENOW_PREVIOUS_USERNAMES: a replaced integration user's notes
        are still its own, else each would be written again). An entry whose author ServiceNow does not say (a field
        ACL on sys_journal_field.sys_created_by answers it empty) is taken as the bot's, as every entry was before
        authors were read: its text still has to read as the bot's; read as the desk's, the bot's own notes would
        never be found (each retry writing them again)."""
        author = entry.get("sys_created_by")
        if not isinstance(author, str) or not author.strip():
            if not self._authors_unsaid_told:
                self._authors_unsaid_told = True
                log.warning("GET sys_journal_field: ServiceNow does not say who wrote the journal entries of ticket "
                            "%s (sys_created_by empty: a read ACL on sys_journal_field.sys_created_by hiding it from "
                            "the integration user?): the bot takes those whose text reads as its own for its own, a "
                            "desk's copy of them included, until it is granted that read", sys_id)
            return True
        return author.strip().lower() in self._own_authors

    async def attach(self, sys_id: str, filename: str, content_type: str, content: bytes) -> None:
        await self._call("POST", "/api/now/attachment/file", "POST attachment/file", file=(content_type, content),
                         params={"table_name": "incident", "table_sys_id": sys_id, "file_name": filename})

    async def attachments(self, sys_id: str) -> list[str]:
        found = await self._call("GET", "/api/now/attachment", "GET attachment", params={
            "sysparm_query": f"table_name=incident^table_sys_id={sys_id}", "sysparm_limit": "1000"})
        return [str(r.get("file_name") or "") for r in found.get("result") or []]

    async def close_code_choices(self) -> list[tuple[str, str]]:
        # A choice is a row per language (its value the same in each): the values come once, in the list's order. An
        # instance with many languages and codes of its own has more rows than a page holds: read page by page (the
        # Table API's sysparm_offset; sys_id orders rows of the same sequence alike on every page), until one comes
        # short — CHOICE_PAGES at most.
        choices: dict[str, str] = {}
        for page in range(CHOICE_PAGES):
            found = await self._call("GET", "/api/now/table/sys_choice", "GET sys_choice", params={
                "sysparm_query": "name=incident^element=close_code^inactive=false^ORDERBYsequence^ORDERBYsys_id",
                "sysparm_fields": "value,label", "sysparm_limit": str(CHOICE_PAGE_ROWS),
                "sysparm_offset": str(page * CHOICE_PAGE_ROWS)})
            rows = found.get("result") or []
            if not isinstance(rows, list):  # a proxy's or a scripted override's answer: not the Table API's rows
                raise IntegrationError("servicenow", f"GET sys_choice: HTTP 200 answer's result is not a list of "
                                       f"rows: {_gist(str(rows))}", retryable=True)
            for record in rows:  # (a row that is no record, or no plain value, is passed over: found in review)
                value = record.get("value") if isinstance(record, dict) else None
                if isinstance(value, (str, int, float)) and str(value):
                    label = record.get("label") if isinstance(record, dict) else None
                    choices.setdefault(str(value), str(label) if isinstance(label, (str, int, float)) and str(label)
                                       else str(value))
            if len(rows) < CHOICE_PAGE_ROWS:
                return list(choices.items())
        log.warning("GET sys_choice: more than %d close-code rows (%d pages); the codes on later pages are not read",
                    CHOICE_PAGES * CHOICE_PAGE_ROWS, CHOICE_PAGES)
        return list(choices.items())

    async def check_credentials(self) -> None:
        """The cheapest read there is (one incident's sys_id): IntegrationError unless ServiceNow accepts the
        credentials."""
        await self._call("GET", "/api/now/table/incident", "GET incident", judged=False,
                         params={"sysparm_limit": "1", "sysparm_fields": "sys_id"})

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _document(text: str) -> dict[str, Any] | None:
    """The Table API's JSON object in an answer, or None when the answer is something else."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _gist(page: str) -> str:
    """What a page says, without its markup, in a line short enough for an operators' alert."""
    return clip(" ".join(re.sub(r"<[^>]*>", " ", page).split()), 120)


def _fitted(fields: dict[str, str]) -> dict[str, str]:
    return {name: clip(value, FIELD_LENGTHS[name]) if name in FIELD_LENGTHS else value
            for name, value in fields.items()}
