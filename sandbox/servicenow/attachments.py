"""ServiceNow's Attachment API in the sandbox: `POST /api/now/attachment/file`, `GET /api/now/attachment` and
`GET /api/now/attachment/{sys_id}/file` under the instance URL.

The contract as ServiceNow documents it: the file is the raw request body; `table_name`, `table_sys_id` and
`file_name` are query parameters, all required; `Content-Type` names the file's type and is required; the record
must exist; an empty file is refused. A created attachment is answered `201` with its metadata (`sys_id`,
`file_name`, `table_name`, `table_sys_id`, `content_type`, `size_bytes`, `download_link`, `sys_created_by`,
`sys_created_on`) and a `Location` header. Listing takes `sysparm_query` (e.g. `table_sys_id=<id>`) and
`sysparm_limit`. Creating one needs write access to its record, so a Closed or Canceled incident refuses it as its
Table API updates do (403). Authentication, the rate limit and injected faults (`POST /api/now/attachment/file`) are
the Table API's (emulator.py). Uploaded bytes are kept so tests can read them back.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from sandbox.hangups import hangups_told
from sandbox.servicenow.errors import CLOSED, ServiceNowError, closed_to_writes, no_record
from sandbox.servicenow.query import parse_query

ATTACHMENT_PREFIX = "/api/now/attachment"
MAX_BYTES = 1024 * 1024 * 1024  # the instance's default com.glide.attachment.max_size is 1 GB
log = logging.getLogger(__name__)  # a caller hanging up mid-call, told (sandbox/hangups.py)


@dataclass
class Attachment:
    sys_id: str
    table_name: str
    table_sys_id: str
    file_name: str
    content_type: str
    content: bytes
    created_by: str
    created_on: str

    def metadata(self, instance_url: str) -> dict[str, str]:
        return {"sys_id": self.sys_id, "file_name": self.file_name, "table_name": self.table_name,
                "table_sys_id": self.table_sys_id, "content_type": self.content_type,
                "size_bytes": str(len(self.content)), "size_compressed": str(len(self.content)),
                "hash": hashlib.sha256(self.content).hexdigest(), "compressed": "false",
                "download_link": f"{instance_url}{ATTACHMENT_PREFIX}/{self.sys_id}/file",
                "sys_created_by": self.created_by, "sys_created_on": self.created_on,
                "sys_updated_by": self.created_by, "sys_updated_on": self.created_on}


class Instance(Protocol):
    """What the attachments need of the emulator (emulator.py) they belong to."""

    tables: dict[str, dict[str, dict[str, str]]]

    @property
    def instance_url(self) -> str: ...
    async def gate(self, request: web.Request, label: str) -> str: ...
    def now_text(self) -> str: ...


class ServiceNowAttachments:
    """The attachments of the emulator's records (only `incident` records take them in the sandbox)."""

    def __init__(self, emulator: Instance) -> None:
        self._emulator = emulator
        self.attachments: dict[str, Attachment] = {}

    def add_routes(self, app: web.Application, prefix: str) -> None:
        app.router.add_post(prefix + ATTACHMENT_PREFIX + "/file", hangups_told(self._upload, log))
        app.router.add_get(prefix + ATTACHMENT_PREFIX, hangups_told(self._list, log))
        app.router.add_get(prefix + ATTACHMENT_PREFIX + "/{sys_id}/file", hangups_told(self._download, log))

    def of(self, table_sys_id: str) -> list[dict[str, object]]:
        """What /sandbox/state shows of a record's attachments."""
        return [{"sys_id": a.sys_id, "file_name": a.file_name, "content_type": a.content_type,
                 "size_bytes": len(a.content), "created_by": a.created_by, "created_on": a.created_on}
                for a in self.attachments.values() if a.table_sys_id == table_sys_id]

    def content(self, sys_id: str) -> bytes | None:
        found = self.attachments.get(sys_id)
        return found.content if found else None

    async def _upload(self, request: web.Request) -> web.Response:
        try:
            user = await self._emulator.gate(request, f"POST {ATTACHMENT_PREFIX}/file")
            query = request.query
            missing = [name for name in ("table_name", "table_sys_id", "file_name") if not query.get(name)]
            if missing:
                raise ServiceNowError(400, "Failed to create the attachment. File part might be missing in the "
                                           "request.", f"Missing query parameter(s): {', '.join(missing)}")
            content_type = request.headers.get("Content-Type", "")
            if not content_type:
                raise ServiceNowError(400, "Content-Type is required", "Give the file's type, e.g. text/markdown")
            table, record = query["table_name"], query["table_sys_id"]
            if table not in self._emulator.tables or record not in self._emulator.tables[table]:
                raise ServiceNowError(400, "Failed to create the attachment",
                                      f"Invalid table name or sys_id: {table}/{record}")
            if table == "incident" and self._emulator.tables[table][record]["state"] in CLOSED:
                # Creating an attachment needs write access to its record: the write ACL on a closed incident.
                raise closed_to_writes()
            content = await request.read()
            if not content:
                raise ServiceNowError(400, "Failed to create the attachment", "The file is empty")
            if len(content) > MAX_BYTES:
                raise ServiceNowError(400, "Failed to create the attachment", "Maximum file size exceeded")
        except ServiceNowError as error:
            return error.response()
        attachment = Attachment(uuid.uuid4().hex, table, record, query["file_name"], content_type.split(";")[0],
                                content, user, self._emulator.now_text())
        self.attachments[attachment.sys_id] = attachment
        url = self._emulator.instance_url
        return web.json_response({"result": attachment.metadata(url)}, status=201,
                                 headers={"Location": f"{url}{ATTACHMENT_PREFIX}/{attachment.sys_id}"})

    async def _list(self, request: web.Request) -> web.Response:
        try:
            await self._emulator.gate(request, f"GET {ATTACHMENT_PREFIX}")
            conditions = parse_query(request.query.get("sysparm_query", ""))
            limit = int(request.query.get("sysparm_limit") or 1000)
        except ValueError as error:
            return ServiceNowError(400, "Invalid request", str(error)).response()
        except ServiceNowError as error:
            return error.response()
        url = self._emulator.instance_url
        rows = [a.metadata(url) for a in self.attachments.values()]
        found = [row for row in rows if conditions.matches(row.get)][:max(limit, 1)]
        return web.json_response({"result": found})

    async def _download(self, request: web.Request) -> web.Response:
        try:
            await self._emulator.gate(request, f"GET {ATTACHMENT_PREFIX}/{{sys_id}}/file")
            found = self.attachments.get(request.match_info["sys_id"])
            if found is None:
                raise no_record()
        except ServiceNowError as error:
            return error.response()
        return web.Response(body=found.content, content_type=found.content_type)
