"""The sandbox Slack workspace's things: users, channels, messages, pins, modals and interactions, as Slack's Web API
shows them; the ids Slack gives them; a Web API method's arguments and the failure it answers with.

Pure data and its JSON shape: the rules that change it are `workspace.py`'s, the Web API `emulator.py`'s.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

TEAM_NAME = "Paved Road Sandbox"
# The app's bot user as people mention it: app_manifest.yml's bot_user.display_name (tests/test_manifest.py keeps
# them equal), so the README's "@pavedroad help" works in the sandbox as in a workspace.
BOT_NAME = "pavedroad"
TEAM_DOMAIN = "pavedroad-sandbox"


def derived_id(prefix: str, seed: str, length: int = 8) -> str:
    """A stable Slack-looking id (prefix + uppercase letters and digits) so sandbox ids survive restarts."""
    digest = base64.b32encode(hashlib.sha256(seed.encode()).digest()).decode()
    return prefix + digest[:length]


class SlackApiFailure(Exception):
    """A Web API call Slack answers with `{"ok": false, "error": error, **extra}` (HTTP 200)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# Who a deleted thread parent's tombstone is from, and what it says, as Slack shows it.
SLACKBOT = "USLACKBOT"
TOMBSTONE_TEXT = "This message was deleted."


def missing(name: str) -> SlackApiFailure:
    """What Slack answers when a required argument is absent."""
    return SlackApiFailure("invalid_arguments",
                           response_metadata={"messages": [f"[ERROR] missing required field: {name}"]})


@dataclass
class SlackUser:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool = False

    def to_api(self, team_id: str) -> JSON:
        profile: JSON = {"real_name": self.real_name, "display_name": self.name,
                         "real_name_normalized": self.real_name, "display_name_normalized": self.name}
        if self.email:
            profile["email"] = self.email
        return {"id": self.id, "team_id": team_id, "name": self.name, "deleted": False, "real_name": self.real_name,
                "tz": "Europe/London", "is_bot": self.is_bot, "is_admin": False, "is_owner": False,
                "is_app_user": False, "profile": profile}


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[JSON]
    attachments: list[JSON] = field(default_factory=list)
    thread_ts: str | None = None
    metadata: JSON | None = None
    edited: bool = False
    edited_ts: str | None = None
    ephemeral_to: str | None = None
    reply_count: int = 0
    bot_id: str | None = None
    app_id: str | None = None
    files: list[JSON] = field(default_factory=list)  # shared by files.completeUploadExternal (files.py)
    reactions: dict[str, list[str]] = field(default_factory=dict)  # reaction name → users, in order (person.py)
    subtype: str | None = None  # "tombstone": a deleted thread parent its replies outlive (SlackWorkspace.delete)

    def to_api(self, team_id: str, *, include_metadata: bool = True) -> JSON:
        data: JSON = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts, "team": team_id}
        if self.subtype:
            data.update(subtype=self.subtype, hidden=True)
        if self.files:
            data["files"] = copy.deepcopy(self.files)
        if self.bot_id:
            data.update(bot_id=self.bot_id, app_id=self.app_id)
        if self.blocks:
            data["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            data["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.reply_count:
            data["reply_count"] = self.reply_count
        if self.edited:
            data["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.metadata and include_metadata:
            data["metadata"] = copy.deepcopy(self.metadata)
        if self.reactions:
            data["reactions"] = [{"name": name, "users": list(users), "count": len(users)}
                                 for name, users in self.reactions.items()]
        return data


@dataclass
class Pin:
    ts: str
    created: int
    created_by: str


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    created: int
    creator: str
    members: list[str]
    is_im: bool = False
    topic: str = ""
    topic_creator: str = ""
    topic_last_set: int = 0
    is_archived: bool = False
    previous_names: list[str] = field(default_factory=list)  # what people renamed it from, earliest first
    pins: list[Pin] = field(default_factory=list)
    messages: dict[str, Message] = field(default_factory=dict)

    def to_api(self, viewer: str, *, num_members: bool = False) -> JSON:
        data: JSON = {
            "id": self.id, "name": self.name, "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private, "is_im": self.is_im, "is_mpim": False, "is_private": self.is_private,
            "created": self.created, "creator": self.creator, "is_archived": self.is_archived,
            "is_general": self.name == "general", "name_normalized": self.name, "is_shared": False,
            "is_ext_shared": False, "is_org_shared": False, "is_member": viewer in self.members,
            "topic": {"value": self.topic, "creator": self.topic_creator, "last_set": self.topic_last_set},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": list(self.previous_names),
        }
        if self.is_im:
            data["user"] = next((m for m in self.members if m != viewer), viewer)
        if num_members:
            data["num_members"] = len(self.members)
        return data


@dataclass
class View:
    id: str
    user_id: str
    definition: JSON
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    is_open: bool = True
    errors: JSON | None = None
    values: JSON = field(default_factory=dict)

    def to_api(self, team_id: str, app_id: str, bot_id: str) -> JSON:
        d = self.definition
        return {
            "id": self.id, "team_id": team_id, "type": d.get("type", "modal"), "blocks": copy.deepcopy(d["blocks"]),
            "private_metadata": d.get("private_metadata", ""), "callback_id": d.get("callback_id", ""),
            "state": {"values": copy.deepcopy(self.values)}, "hash": self.hash,
            "title": d.get("title"), "clear_on_close": bool(d.get("clear_on_close", False)),
            "notify_on_close": bool(d.get("notify_on_close", False)), "close": d.get("close"),
            "submit": d.get("submit"), "previous_view_id": self.previous_view_id, "root_view_id": self.root_view_id,
            "app_id": app_id, "external_id": d.get("external_id", ""), "app_installed_team_id": team_id,
            "bot_id": bot_id,
        }


@dataclass
class Interaction:
    """One thing a user did (command, click, submission): its trigger id and response URL, and what the bot did
    with them, so the control route can report it back."""

    id: str
    kind: str
    user_id: str
    channel_id: str | None
    created_at: float
    trigger_id: str
    source_ts: str | None = None  # the message replace_original / delete_original act on
    response_url_posts: list[JSON] = field(default_factory=list)
    views_opened: list[JSON] = field(default_factory=list)
    uses: int = 0


@dataclass
class Trigger:
    """A trigger id as issued: exchangeable once (views.open, views.push) within three seconds."""

    interaction: Interaction
    issued_at: float
    used: bool = False


class Args:
    """A method's arguments as Slack reads them: strings from a query or form, typed values from a JSON body."""

    def __init__(self, data: JSON) -> None:
        self.data = data

    def text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, list):
            raise SlackApiFailure("invalid_array_arg")
        raise SlackApiFailure("invalid_arguments",
                              response_metadata={"messages": [f"[ERROR] must be a string [json-pointer:/{name}]"]})

    def required(self, name: str, error: str | None = None) -> str:
        value = self.text(name)
        if not value:
            raise SlackApiFailure(error) if error else missing(name)
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true")

    def integer(self, name: str, default: int, error: str = "invalid_limit") -> int:
        value = self.text(name)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            raise SlackApiFailure(error) from None

    def structure(self, name: str, error: str) -> Any:
        """A JSON argument (blocks, view, metadata): a string in a form, already parsed in a JSON body."""
        value = self.data.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise SlackApiFailure(error) from None
        return value

