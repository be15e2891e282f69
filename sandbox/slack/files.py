"""File uploads in the sandbox Slack: files.getUploadURLExternal → POST the bytes → files.completeUploadExternal.

The contract as Slack documents it (and slack_sdk's `files_upload_v2` follows): getUploadURLExternal needs
`filename` and a positive `length` and answers an `upload_url` and `file_id`; the bytes are POSTed there (raw or as
multipart form data) and answered `200 OK - <length>`; completeUploadExternal takes `files` (a JSON array of
`{"id", "title"}`) and, with `channel_id`, shares them in that channel as one message whose text is
`initial_comment`. Files not uploaded yet, or already completed, are `file_not_found`; a channel the bot cannot see
is `channel_not_found`, one it is not in `not_in_channel`. Uploaded bytes are kept and served back by
`GET /sandbox/slack/files/{id}` (what the page shows an image with, and a person downloads a file from).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from sandbox.slack.model import JSON, Args, SlackApiFailure
from sandbox.slack.workspace import SlackWorkspace

MAX_FILE_BYTES = 1024 * 1024 * 1024  # Slack's 1 GB limit per file


@dataclass
class SlackFile:
    id: str
    name: str
    length: int
    user: str
    created: int
    alt_txt: str | None = None
    title: str | None = None
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)

    def to_api(self) -> JSON:
        return {"id": self.id, "name": self.name, "title": self.title or self.name, "size": self.length,
                "user": self.user, "created": self.created, "mimetype": _mimetype(self.name),
                "filetype": self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary",
                "channels": list(self.channels), "alt_txt": self.alt_txt}


def _mimetype(name: str) -> str:
    return {"png": "image/png", "csv": "text/csv", "json": "application/json", "md": "text/markdown",
            "txt": "text/plain"}.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


class SlackFiles:
    """The workspace's files and the three steps of an upload."""

    def __init__(self, workspace: SlackWorkspace) -> None:
        self._slack = workspace
        self.files: dict[str, SlackFile] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sandbox/slack/upload/{file_id}", self._handle_upload)
        app.router.add_get("/sandbox/slack/files/{file_id}", self._download)

    async def _download(self, request: web.Request) -> web.Response:
        """An uploaded file's bytes (Slack's `url_private`; the sandbox asks for no token): 404 until uploaded."""
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.content is None:
            return web.Response(status=404, text="No such file in the sandbox's Slack")
        # The uploader chose the name: no quotes or newlines reach the header.
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", file.name)
        disposition = "inline" if _mimetype(file.name).startswith("image/") else "attachment"
        return web.Response(body=file.content, content_type=_mimetype(file.name),
                            headers={"Content-Disposition": f'{disposition}; filename="{safe_name}"'})

    def get_upload_url(self, base_url: str) -> Callable[[Args], JSON]:
        def get_upload_url_external(args: Args) -> JSON:
            filename = args.text("filename")
            length_text = args.text("length")
            if not filename or not length_text:
                raise SlackApiFailure("invalid_arguments", response_metadata={"messages": [
                    f"[ERROR] missing required field: {'filename' if not filename else 'length'}"]})
            try:
                length = int(length_text)
            except ValueError:
                raise SlackApiFailure("invalid_arguments", response_metadata={"messages": [
                    "[ERROR] failed to match all allowed schemas [json-pointer:/length]"]}) from None
            if length <= 0:
                raise SlackApiFailure("missing_argument")  # Slack's answer to a length of 0
            if length > MAX_FILE_BYTES:
                raise SlackApiFailure("file_upload_size_restricted")
            alt_txt = args.text("alt_txt")
            if alt_txt and len(alt_txt) > 1000:
                raise SlackApiFailure("alt_txt_too_large")
            file_id = "F" + secrets.token_hex(5).upper()
            self.files[file_id] = SlackFile(id=file_id, name=filename, length=length, user=self._slack.bot.id,
                                            created=int(self._slack.clock()), alt_txt=alt_txt)
            return {"upload_url": f"{base_url.rstrip('/')}/sandbox/slack/upload/{file_id}", "file_id": file_id}
        return get_upload_url_external

    async def _handle_upload(self, request: web.Request) -> web.Response:
        self._slack.touch()
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.content is not None:
            return web.Response(status=404, text="Not Found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = next(iter(form.values()), None)
            data = part.file.read() if isinstance(part, web.FileField) else str(part or "").encode()
        else:
            data = await request.read()
        if len(data) != file.length:
            # The upload URL is for the length declared: a different size is refused and the file stays unusable.
            return web.Response(status=400, text=f"length {len(data)} does not match the declared {file.length}")
        file.content = data
        return web.Response(status=200, text=f"OK - {len(data)}")

    def complete_upload_external(self, args: Args) -> JSON:
        listed = args.structure("files", "invalid_arguments")
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) and f.get("id")
                                                                  for f in listed):
            raise SlackApiFailure("invalid_arguments", response_metadata={"messages": [
                "[ERROR] files must be an array of objects with an id [json-pointer:/files]"]})
        chosen = []
        for entry in listed:
            file = self.files.get(str(entry["id"]))
            if file is None or file.content is None or file.completed:
                raise SlackApiFailure("file_not_found")
            chosen.append((file, entry.get("title")))
        channel = None
        if args.text("channel_id"):
            ref = args.text("channel_id") or ""
            channel = self._slack.find_channel(ref)
            hidden = channel is not None and channel.is_private and self._slack.bot.id not in channel.members
            if channel is None or channel.id != ref or hidden:
                raise SlackApiFailure("channel_not_found")
            if channel.is_archived:
                raise SlackApiFailure("is_archived")
            if self._slack.bot.id not in channel.members:
                raise SlackApiFailure("not_in_channel")
        for file, title in chosen:
            file.completed, file.title = True, str(title) if title else file.name
            if channel is not None:
                file.channels.append(channel.id)
        if channel is not None:
            message = self._slack.post(channel, args.text("initial_comment") or "", [],
                                       thread_ts=args.text("thread_ts"))
            message.files = [file.to_api() for file, _ in chosen]
        return {"files": [{"id": file.id, "title": file.title} for file, _ in chosen]}

    def snapshot(self) -> list[JSON]:
        return [{**f.to_api(), "completed": f.completed, "uploaded_bytes": len(f.content or b"")}
                for f in self.files.values()]
