"""Local emulator of the Slack Web API: the sandbox workspace and the contracts Slack enforces on it.

Owns the workspace state (users, channels, messages, pins, modals, trigger ids, response URLs), the Web API under
`/sandbox/slack/api/{method}` and the interaction response URLs under `/sandbox/slack/response/{id}`. A request real
Slack would reject is rejected here with Slack's error code: argument and Block Kit checks, channel-name rules,
token types (the bot token for everything but `apps.connections.open`, which takes only the app-level token),
per-method rate limits (HTTP 429 + Retry-After), three-second trigger ids, and injected faults. Acting as a Slack
user towards the bot (slash commands, button clicks, modal submissions) lives in `slack_user.py`; the Socket Mode
WebSocket that `apps.connections.open` points the bot at lives in `slack_socket.py`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import aiohttp
from aiohttp import web

from bot.catalogue import SandboxPerson
from sandbox.faults import Fault, Faults
from sandbox.slack.files import SlackFiles
from sandbox.slack.socket_mode import SocketModeServer
from sandbox.slack.user import SlackUserActions

JSON = dict[str, Any]

TEAM_NAME = "Paved Road Sandbox"
TEAM_DOMAIN = "pavedroad-sandbox"
TRIGGER_LIFETIME = 3.0  # seconds: Slack's trigger ids are exchangeable for three seconds
RESPONSE_URL_LIFETIME = 30 * 60.0  # response_url: up to five uses within thirty minutes
RESPONSE_URL_USES = 5

# Requests per minute per method (Slack's published tiers). chat.postMessage is limited per channel instead.
_TIERS = {2: 20, 3: 50, 4: 100}
_METHOD_TIER = {
    **dict.fromkeys(["conversations.create", "conversations.setTopic", "conversations.archive", "pins.add",
                     "conversations.join"], 2),
    **dict.fromkeys(["conversations.invite", "chat.update", "users.lookupByEmail", "users.info",
                     "conversations.info", "conversations.list", "conversations.members", "pins.list",
                     "conversations.history", "conversations.leave"], 3),
    **dict.fromkeys(["views.open", "views.update", "views.push", "chat.postEphemeral", "chat.getPermalink",
                     "auth.test", "files.getUploadURLExternal", "files.completeUploadExternal"], 4),
}
_POST_MESSAGE_PER_MINUTE = 60  # about one per second per channel...
_POST_MESSAGE_BURST = 5  # ...with a short burst allowed
# apps.connections.open is Tier 1 ("1+ per minute, a small burst tolerated"). The burst lets a bot open its allowed
# ten connections, or reconnect after a refresh, without waiting a minute; the figure is an assumption.
_CONNECTIONS_OPEN_PER_MINUTE = 1
_CONNECTIONS_OPEN_BURST = 10
# Methods authorised by the app-level token (xapp-...) instead of the bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")


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


def _missing(name: str) -> SlackApiFailure:
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
    files: list[JSON] = field(default_factory=list)  # shared by files.completeUploadExternal (slack_files.py)

    def to_api(self, team_id: str, *, include_metadata: bool = True) -> JSON:
        data: JSON = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts, "team": team_id}
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
class _Trigger:
    interaction: Interaction
    issued_at: float
    used: bool = False


class _Args:
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
            raise SlackApiFailure(error) if error else _missing(name)
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


class _RateLimiter:
    """Token buckets per key; `take` answers None or the Retry-After seconds."""

    def __init__(self, scale: float, clock: Callable[[], float]) -> None:
        self._scale, self._clock = scale, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, per_minute: float, burst: float) -> int | None:
        if self._scale <= 0:
            return None
        rate = per_minute * self._scale / 60
        capacity = max(1.0, burst * self._scale)
        now = self._clock()
        tokens, updated = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - updated) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / rate))


# Block Kit checks: what Slack refuses with `invalid_blocks` (a subset, chosen for what a bot gets wrong).
_BLOCK_TYPES = {"actions", "context", "divider", "file", "header", "image", "input", "section", "rich_text",
                "video", "markdown", "table", "call", "context_actions"}


def _text_errors(obj: Any, pointer: str, limit: int, *, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {', '.join(allowed)} [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _element_errors(element: Any, pointer: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"must provide an object with a type [json-pointer:{pointer}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not 0 < len(action_id) <= 255:
            errors.append(f"must be 1 to 255 characters [json-pointer:{pointer}/action_id]")
        elif action_id in action_ids:
            errors.append(f"duplicate action_id {action_id!r} in block [json-pointer:{pointer}/action_id]")
        else:
            action_ids.add(action_id)
    if element["type"] == "button":
        errors += _text_errors(element.get("text"), f"{pointer}/text", 75, plain=True)
        if len(str(element.get("value", ""))) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    return errors


def block_errors(blocks: Any, pointer: str, max_blocks: int) -> list[str]:
    """Slack's complaints about a list of blocks, in its `[json-pointer:...]` style; empty when valid."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors = [f"no more than {max_blocks} items allowed [json-pointer:{pointer}]"] if len(blocks) > max_blocks else []
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            errors.append(f"unsupported block type [json-pointer:{at}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"must be 1 to 255 characters [json-pointer:{at}/block_id]")
            elif block_id in block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{at}/block_id]")
            block_ids.add(str(block_id))
        action_ids: set[str] = set()
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{at}]")
            if "text" in block:
                errors += _text_errors(block["text"], f"{at}/text", 3000)
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(f"must be an array of at most 10 items [json-pointer:{at}/fields]")
            else:
                for i, item in enumerate(fields):
                    errors += _text_errors(item, f"{at}/fields/{i}", 2000)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{at}/accessory", action_ids)
        elif kind == "header":
            errors += _text_errors(block.get("text"), f"{at}/text", 150, plain=True)
        elif kind in ("actions", "context"):
            elements, most = block.get("elements"), (25 if kind == "actions" else 10)
            if not isinstance(elements, list) or not 0 < len(elements) <= most:
                errors.append(f"must be an array of 1 to {most} items [json-pointer:{at}/elements]")
            elif kind == "actions":
                for i, element in enumerate(elements):
                    errors += _element_errors(element, f"{at}/elements/{i}", action_ids)
        elif kind == "input":
            errors += _text_errors(block.get("label"), f"{at}/label", 2000, plain=True)
            errors += _element_errors(block.get("element"), f"{at}/element", action_ids)
    return errors


def _normalised_blocks(blocks: list[JSON]) -> list[JSON]:
    """Blocks as Slack stores them: every block gets a block_id and every element an action_id if the app gave none."""
    stored = copy.deepcopy(blocks)
    for index, block in enumerate(stored):
        seed = json.dumps(block, sort_keys=True) + str(index)
        block.setdefault("block_id", derived_id("", seed, 5))
        elements = [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
        if block["type"] == "actions":
            elements += [e for e in block.get("elements", []) if isinstance(e, dict)]
        for position, element in enumerate(elements):
            element.setdefault("action_id", derived_id("", f"{seed}:{position}", 5))
    return stored


def _cursor(next_key: str | None) -> str:
    return base64.b64encode(f"next:{next_key}".encode()).decode() if next_key else ""


def _page(keys: list[str], args: _Args, default_limit: int = 100) -> tuple[list[str], str]:
    """One page of `keys` from `cursor` (an opaque token naming the first key of the page), and the next cursor."""
    limit = args.integer("limit", default_limit)
    if limit < 0:
        raise SlackApiFailure("invalid_limit")
    limit = min(limit or default_limit, 1000)
    start = 0
    cursor = args.text("cursor")
    if cursor:
        try:
            key = base64.b64decode(cursor, validate=True).decode().removeprefix("next:")
            start = keys.index(key)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise SlackApiFailure("invalid_cursor") from None
    page = keys[start:start + limit]
    return page, _cursor(keys[start + limit] if start + limit < len(keys) else None)


class SlackEmulator:
    """The sandbox Slack workspace and its Web API. `bot_events_url` is where Slack would deliver commands and
    interactions (the bot's POST /slack/events); the host sets it once the bot is listening. With `app_token` set
    the bot may instead connect in Socket Mode, and while it holds a connection deliveries go over it."""

    def __init__(self, *, people: Sequence[SandboxPerson], channels: Sequence[str], faults: Faults,
                 bot_token: str, signing_secret: str, rate_limit_scale: float = 1.0,
                 clock: Callable[[], float] = time.time, bot_name: str = "paved-road",
                 settle_seconds: float = 1.5, quiet_seconds: float = 0.3, ack_timeout_seconds: float = 3.0,
                 public_url: str | None = None, app_token: str | None = None) -> None:
        self.faults = faults
        self.bot_token = bot_token
        self.app_token = app_token  # the app-level token (xapp-...); None: the app has no Socket Mode
        self.signing_secret = signing_secret
        self.clock = clock
        self.bot_events_url: str | None = None
        # Where the bot can reach this emulator (for response URLs); taken from the control request when unset.
        self.public_url = public_url
        self.settle_seconds, self.quiet_seconds = settle_seconds, quiet_seconds
        self.ack_timeout_seconds = ack_timeout_seconds
        self.team_id = derived_id("T", TEAM_DOMAIN)
        self._team_number = int(hashlib.sha256(TEAM_DOMAIN.encode()).hexdigest()[:8], 16)
        self.team_domain = TEAM_DOMAIN
        self.app_id = derived_id("A", f"app:{bot_name}", 10)
        self.bot_id = derived_id("B", f"bot:{bot_name}", 10)
        self.verification_token = derived_id("", f"verification:{bot_name}", 24).lower()
        self.socket_mode = SocketModeServer(app_id=self.app_id)
        self.bot = SlackUser(id=derived_id("U", f"bot-user:{bot_name}"), name=bot_name,
                             real_name=bot_name.replace("-", " ").title(), email=None, is_bot=True)
        self.calls: Counter[str] = Counter()
        self.last_activity = 0.0  # event-loop time of the bot's last call to this emulator
        self._users: dict[str, SlackUser] = {self.bot.id: self.bot}
        for person in people:
            if person.slack:
                self._add_person(person)
        self._channels: dict[str, Channel] = {}
        for name in dict.fromkeys(channels):
            self._new_channel(name.lstrip("#"), is_private=False)
        self._views: dict[str, View] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._interactions: dict[str, Interaction] = {}
        self._last_ts = 0
        self._serial = 0
        self._limiter = _RateLimiter(rate_limit_scale, clock)
        self._session: aiohttp.ClientSession | None = None
        self._user_actions = SlackUserActions(self)
        self.files = SlackFiles(self)
        self._methods: dict[str, Callable[[_Args], JSON]] = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.archive": self._conversations_archive,
            "conversations.join": self._conversations_join,
            "conversations.leave": self._conversations_leave,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "pins.add": self._pins_add,
            "pins.list": self._pins_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "files.completeUploadExternal": self.files.complete_upload_external,
        }

    # ----- wiring -------------------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/sandbox/slack/api/{method}", self._handle_api)
        app.router.add_route("POST", "/sandbox/slack/api/{method}", self._handle_api)
        app.router.add_post("/sandbox/slack/response/{id}", self._handle_response_url)
        self._user_actions.add_routes(app)
        self.files.add_routes(app)
        self.socket_mode.add_routes(app)

    def session(self) -> aiohttp.ClientSession:
        """The one HTTP client this emulator uses to reach the bot, created on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        await self.socket_mode.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----- lookups ------------------------------------------------------------------------------------------------

    def resolve_user(self, ref: str) -> SlackUser | None:
        """A user by id, name (with or without '@') or email."""
        ref = ref.strip()
        if ref in self._users:
            return self._users[ref]
        key = ref.removeprefix("@").lower()
        return next((u for u in self._users.values() if u.name == key or (u.email or "").lower() == key), None)

    def find_channel(self, ref: str) -> Channel | None:
        """Any channel by id or name (with or without '#'), as a person would name it; not limited to the bot's."""
        return self._channels.get(ref) or next(
            (c for c in self._channels.values() if c.name == ref.removeprefix("#") and not c.is_im), None)

    @property
    def users(self) -> Mapping[str, SlackUser]:
        """The people in the workspace by id (not the bot)."""
        return MappingProxyType({k: u for k, u in self._users.items() if not u.is_bot})

    def create_channel_as(self, user_ref: str, name: str, *, is_private: bool = False) -> Channel:
        """A person creates a channel (the bot is not in it), under the same rules as conversations.create.
        Raises SlackApiFailure with Slack's error code (name_taken, invalid_name_specials...)."""
        user = self.resolve_user(user_ref)
        if user is None or user.is_bot:
            raise SlackApiFailure("user_not_found")
        channel = self._new_channel(self._check_channel_name(name), is_private=is_private)
        channel.creator, channel.members = user.id, [user.id]
        return channel

    def interaction(self, interaction_id: str) -> Interaction | None:
        """A user's interaction by id (the last part of its response URL): what the bot has answered to it so far."""
        return self._interactions.get(interaction_id)

    def find_view(self, view_id: str) -> View | None:
        return self._views.get(view_id)

    def view_api(self, view: View) -> JSON:
        return view.to_api(self.team_id, self.app_id, self.bot_id)

    # ----- state changes shared with slack_user -------------------------------------------------------------------

    def touch(self) -> None:
        self.last_activity = asyncio.get_running_loop().time()

    def next_ts(self) -> str:
        """Slack's message timestamp: seconds.microseconds from the clock, unique and increasing."""
        micros = max(int(self.clock() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def begin_interaction(self, kind: str, user: SlackUser, channel: Channel | None,
                          source_ts: str | None = None) -> Interaction:
        """Issue the trigger id and response URL a user's action comes with."""
        # Random, unlike user and channel ids: a response URL or trigger kept from an earlier run must not match.
        serial = self._next_serial()
        trigger_id = f"{int(self.clock())}{serial:04d}.{self._team_number}.{secrets.token_hex(16)}"
        interaction = Interaction(id=secrets.token_hex(12), kind=kind,
                                  user_id=user.id, channel_id=channel.id if channel else None,
                                  created_at=self.clock(), trigger_id=trigger_id, source_ts=source_ts)
        self._interactions[interaction.id] = interaction
        self._triggers[trigger_id] = _Trigger(interaction, self.clock())
        return interaction

    def post(self, channel: Channel, text: str, blocks: list[JSON], *, user: str | None = None,
             thread_ts: str | None = None, ephemeral_to: str | None = None, attachments: list[JSON] | None = None,
             metadata: JSON | None = None) -> Message:
        author = user or self.bot.id
        if thread_ts:
            parent = channel.messages.get(thread_ts)
            if parent is not None:
                thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the parent's thread
                root = channel.messages.get(thread_ts)
                if root is not None and not ephemeral_to:
                    root.reply_count += 1
        is_bot = author == self.bot.id
        message = Message(channel=channel.id, ts=self.next_ts(), user=author, text=text,
                          blocks=_normalised_blocks(blocks), attachments=attachments or [], thread_ts=thread_ts,
                          metadata=metadata, ephemeral_to=ephemeral_to, bot_id=self.bot_id if is_bot else None,
                          app_id=self.app_id if is_bot else None)
        channel.messages[message.ts] = message
        return message

    def respond(self, interaction: Interaction, body: JSON) -> str | None:
        """Apply what the bot sent to a response URL (or answered a command with), as Slack would. Returns the
        error code Slack would answer with, or None."""
        channel = self._channels.get(interaction.channel_id or "")
        if channel is None:
            return "channel_not_found"
        original = channel.messages.get(interaction.source_ts or "")
        if body.get("delete_original") in (True, "true"):
            if original is not None:
                del channel.messages[original.ts]
                interaction.source_ts = None
            return None
        text = str(body.get("text") or "")
        blocks = body.get("blocks") or []
        if not text and not blocks:
            return "no_text"
        if block_errors(blocks, "/blocks", 50):
            return "invalid_blocks"
        if body.get("replace_original") in (True, "true") and original is not None:
            original.text, original.blocks = text, _normalised_blocks(blocks)
            return None
        in_channel = body.get("response_type") == "in_channel"
        message = self.post(channel, text, blocks, thread_ts=body.get("thread_ts"),
                            ephemeral_to=None if in_channel else interaction.user_id)
        if interaction.kind == "command":
            interaction.source_ts = message.ts  # a command's "original" is the last response it got
        return None

    def store_view(self, user_id: str, definition: JSON, *, previous: View | None = None) -> View:
        view_id = derived_id("V", secrets.token_hex(16), 10)
        definition = {**definition, "blocks": _normalised_blocks(definition["blocks"])}
        view = View(id=view_id, user_id=user_id, definition=definition, hash=self._view_hash(),
                    root_view_id=previous.root_view_id if previous else view_id,
                    previous_view_id=previous.id if previous else None)
        self._views[view_id] = view
        return view

    def replace_view(self, view: View, definition: JSON) -> None:
        definition = {**definition, "blocks": _normalised_blocks(definition["blocks"])}
        view.definition, view.hash, view.errors, view.values = definition, self._view_hash(), None, {}

    def check_view(self, definition: Any) -> list[str]:
        return view_errors(definition)

    def view_stack(self, view: View) -> list[View]:
        return [v for v in self._views.values() if v.root_view_id == view.root_view_id and v.is_open]

    def _view_hash(self) -> str:
        return f"{int(self.clock())}.{derived_id('', f'hash:{self._next_serial()}', 8).lower()}"

    def _add_person(self, person: SandboxPerson) -> None:
        email = person.email.lower()
        name = base = email.split("@")[0]
        suffix = 1
        while any(u.name == name for u in self._users.values()):  # Slack usernames are unique in a workspace
            suffix += 1
            name = f"{base}{suffix}"
        user_id = derived_id("U", email)
        self._users[user_id] = SlackUser(id=user_id, name=name, real_name=person.name, email=person.email)

    def _new_channel(self, name: str, *, is_private: bool, is_im: bool = False, seed: str | None = None) -> Channel:
        attempt = 0
        channel_id = derived_id("D" if is_im else "C", seed or f"channel:{name}", 10)
        while channel_id in self._channels:
            attempt += 1
            channel_id = derived_id("D" if is_im else "C", f"{seed or f'channel:{name}'}:{attempt}", 10)
        channel = Channel(id=channel_id, name=name, is_private=is_private, is_im=is_im, created=int(self.clock()),
                          creator=self.bot.id, members=[self.bot.id])
        self._channels[channel_id] = channel
        return channel

    # ----- the Web API --------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self.calls[method] += 1
        self.touch()
        try:
            await self.faults.delay("slack", method)
            fault = self.faults.take("slack", method)
            if fault is not None:
                return _fault_response(fault)
            handler = self._methods.get(method)
            if method == "apps.connections.open":
                handler = self._apps_connections_open(self.public_url or str(request.url.origin()))
            if method == "files.getUploadURLExternal":
                handler = self.files.get_upload_url(self.public_url or str(request.url.origin()))
            if handler is None:
                return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
            return await self._answer(request, method, handler)
        finally:
            self.touch()  # a slow call (injected latency) is activity until it is answered

    async def _answer(self, request: web.Request, method: str, handler: Callable[[_Args], JSON]) -> web.Response:
        try:
            args = _Args(await _read_args(request))
            self._authenticate(method, _bearer(request), args.text("token"))
            retry_after = self._rate_limit(method, args)
            if retry_after is not None:
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": str(retry_after)})
            body: JSON = {"ok": True, **handler(args)}
        except SlackApiFailure as failure:
            body = {"ok": False, "error": failure.error, **failure.extra}
        return web.json_response(body)

    def _authenticate(self, method: str, bearer: str | None, form_token: str | None) -> None:
        """Slack's token checks: the right token for the method, else the error Slack names."""
        if method in _APP_TOKEN_METHODS:
            # Slack reads the app-level token only from the Authorization header for these methods.
            if not bearer:
                raise SlackApiFailure("not_authed")
            if bearer == self.bot_token:
                raise SlackApiFailure("not_allowed_token_type")
            if self.app_token is None or bearer != self.app_token:
                raise SlackApiFailure("invalid_auth")
            return
        token = bearer or form_token
        if not token:
            raise SlackApiFailure("not_authed")
        if self.app_token is not None and token == self.app_token:
            raise SlackApiFailure("not_allowed_token_type")  # an app-level token cannot act as the bot
        if token != self.bot_token:
            raise SlackApiFailure("invalid_auth")

    def _rate_limit(self, method: str, args: _Args) -> int | None:
        if method == "apps.connections.open":
            return self._limiter.take(method, _CONNECTIONS_OPEN_PER_MINUTE, _CONNECTIONS_OPEN_BURST)
        if method == "chat.postMessage":
            ref = args.text("channel") or ""
            channel = self.find_channel(ref)
            key = f"{method}:{channel.id if channel else ref}"
            return self._limiter.take(key, _POST_MESSAGE_PER_MINUTE, _POST_MESSAGE_BURST)
        per_minute = _TIERS[_METHOD_TIER[method]]
        return self._limiter.take(method, per_minute, per_minute)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        self.touch()
        interaction = self._interactions.get(request.match_info["id"])
        if interaction is None or self.clock() - interaction.created_at > RESPONSE_URL_LIFETIME:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        if interaction.uses >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        try:
            body = await _read_args(request)
            if isinstance(body.get("payload"), str):  # the legacy form encoding
                body = json.loads(body["payload"])
        except (SlackApiFailure, ValueError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        interaction.uses += 1
        interaction.response_url_posts.append(body)
        error = self.respond(interaction, body)
        if error:
            return web.json_response({"ok": False, "error": error}, status=400)
        return web.json_response({"ok": True})

    # ----- argument helpers ---------------------------------------------------------------------------------------

    def _visible(self, channel: Channel) -> bool:
        # The bot sees every public channel (and may post there: chat:write.public) but only its private ones.
        return not (channel.is_private or channel.is_im) or self.bot.id in channel.members

    def _channel(self, args: _Args, *, by_name: bool = False, by_user: bool = False) -> Channel:
        ref = args.text("channel")
        if not ref:
            raise SlackApiFailure("channel_not_found")
        channel = self._channels.get(ref)
        if channel is None and by_name:
            channel = self.find_channel(ref)
        if channel is None and by_user and ref in self._users and ref != self.bot.id:
            channel = self._im_with(self._users[ref])
        if channel is None or not self._visible(channel):
            raise SlackApiFailure("channel_not_found")
        return channel

    def _im_with(self, user: SlackUser) -> Channel:
        existing = next((c for c in self._channels.values() if c.is_im and user.id in c.members), None)
        if existing is not None:
            return existing
        channel = self._new_channel(user.name, is_private=True, is_im=True, seed=f"im:{user.id}")
        channel.members.append(user.id)
        return channel

    def _user(self, args: _Args, name: str = "user") -> SlackUser:
        user = self._users.get(args.text(name) or "")
        if user is None:
            raise SlackApiFailure("user_not_found")
        return user

    def _message(self, channel: Channel, ts: str) -> Message:
        message = channel.messages.get(ts)
        if message is None or message.ephemeral_to:
            raise SlackApiFailure("message_not_found")
        return message

    def _content(self, args: _Args, *, required: bool = True) -> tuple[str | None, list[JSON] | None,
                                                                       list[JSON] | None]:
        text = args.text("text")
        if text is None:
            text = args.text("markdown_text")
        blocks = args.structure("blocks", "invalid_blocks_format")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackApiFailure("invalid_blocks_format")
            errors = block_errors(blocks, "/blocks", 50)
            if errors:
                raise SlackApiFailure("invalid_blocks", errors=errors, response_metadata={"messages": errors})
        attachments = args.structure("attachments", "invalid_attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackApiFailure("invalid_attachments")
        if required and not text and not blocks and not attachments:
            raise SlackApiFailure("no_text")
        if text and len(text) > 40_000:
            raise SlackApiFailure("msg_too_long")
        return text, blocks, attachments

    def _metadata(self, args: _Args) -> JSON | None:
        metadata = args.structure("metadata", "invalid_metadata_format")
        if metadata is None or metadata == {}:
            return None
        if (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)
                or not isinstance(metadata.get("event_payload"), dict)):
            raise SlackApiFailure("invalid_metadata_format")
        return metadata

    # ----- methods ------------------------------------------------------------------------------------------------

    def _apps_connections_open(self, base_url: str) -> Callable[[_Args], JSON]:
        """The one method whose answer depends on the request: the WebSocket URL is on the host the bot called."""
        def connections_open(args: _Args) -> JSON:
            return {"url": self.socket_mode.issue_url(base_url)}
        return connections_open

    def _auth_test(self, args: _Args) -> JSON:
        return {"url": f"https://{self.team_domain}.slack.com/", "team": TEAM_NAME, "user": self.bot.name,
                "team_id": self.team_id, "user_id": self.bot.id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _check_channel_name(self, name: str | None) -> str:
        if not name:
            raise SlackApiFailure("invalid_name_required")
        if len(name) > 80:
            raise SlackApiFailure("invalid_name_maxlength")
        if not _CHANNEL_NAME.fullmatch(name):
            raise SlackApiFailure("invalid_name_specials")
        if not name.strip("-_"):
            raise SlackApiFailure("invalid_name_punctuation")
        if any(c.name == name and not c.is_im for c in self._channels.values()):
            raise SlackApiFailure("name_taken")
        return name

    def _conversations_create(self, args: _Args) -> JSON:
        name = self._check_channel_name(args.text("name"))
        channel = self._new_channel(name, is_private=args.flag("is_private"))
        return {"channel": channel.to_api(self.bot.id)}

    def _conversations_invite(self, args: _Args) -> JSON:
        channel = self._channel(args)
        ids = list(dict.fromkeys(u.strip() for u in (args.text("users") or "").split(",") if u.strip()))
        if not ids:
            raise SlackApiFailure("no_user")
        if len(ids) > 1000:
            raise SlackApiFailure("too_many_users")
        if channel.is_im:
            raise SlackApiFailure("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if self.bot.id not in channel.members:
            raise SlackApiFailure("not_in_channel")
        failures: list[JSON] = []
        invited: list[str] = []
        already: list[JSON] = []
        for user_id in ids:
            if user_id == self.bot.id:
                failures.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
            elif user_id not in self._users:
                failures.append({"user": user_id, "ok": False, "error": "user_not_found"})
            elif user_id in channel.members:
                already.append({"user": user_id, "ok": False, "error": "already_in_channel"})
            else:
                invited.append(user_id)
        # Without `force`, one bad id fails the whole call; users already in are skipped unless all of them are.
        if failures and not (args.flag("force") and invited):
            raise SlackApiFailure(str(failures[0]["error"]), errors=failures + already)
        if not invited:
            raise SlackApiFailure("already_in_channel", errors=already)
        channel.members.extend(invited)
        result: JSON = {"channel": channel.to_api(self.bot.id)}
        if failures:
            result["errors"] = failures
        return result

    def _conversations_set_topic(self, args: _Args) -> JSON:
        channel = self._channel(args)
        topic = args.text("topic") or ""
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if self.bot.id not in channel.members:
            raise SlackApiFailure("not_in_channel")
        if len(topic) > 250:
            raise SlackApiFailure("too_long")
        channel.topic, channel.topic_creator, channel.topic_last_set = topic, self.bot.id, int(self.clock())
        return {"channel": channel.to_api(self.bot.id)}

    def _conversations_info(self, args: _Args) -> JSON:
        channel = self._channel(args)
        return {"channel": channel.to_api(self.bot.id, num_members=args.flag("include_num_members"))}

    def _conversations_list(self, args: _Args) -> JSON:
        types = set((args.text("types") or "public_channel").replace(" ", "").split(","))
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise SlackApiFailure("invalid_types")
        exclude_archived = args.flag("exclude_archived")

        def listed(c: Channel) -> bool:
            kind = "im" if c.is_im else "private_channel" if c.is_private else "public_channel"
            return kind in types and self._visible(c) and not (exclude_archived and c.is_archived)

        keys = [c.id for c in self._channels.values() if listed(c)]
        page, next_cursor = _page(keys, args)
        return {"channels": [self._channels[k].to_api(self.bot.id) for k in page],
                "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_members(self, args: _Args) -> JSON:
        channel = self._channel(args)
        page, next_cursor = _page(list(channel.members), args)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_history(self, args: _Args) -> JSON:
        channel = self._channel(args)
        if self.bot.id not in channel.members:
            raise SlackApiFailure("not_in_channel")
        try:
            oldest = float(args.text("oldest") or 0)
        except ValueError:
            raise SlackApiFailure("invalid_ts_oldest") from None
        try:
            latest = float(args.text("latest") or "inf")
        except ValueError:
            raise SlackApiFailure("invalid_ts_latest") from None
        inclusive = args.flag("inclusive")

        def listed(m: Message) -> bool:
            ts = float(m.ts)
            in_range = (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)
            # History shows top-level messages; thread replies and ephemeral messages are not in it.
            return in_range and not m.ephemeral_to and (not m.thread_ts or m.thread_ts == m.ts)

        keys = [m.ts for m in reversed(channel.messages.values()) if listed(m)]
        page, next_cursor = _page(keys, args)
        with_metadata = args.flag("include_all_metadata")
        return {"messages": [channel.messages[ts].to_api(self.team_id, include_metadata=with_metadata)
                             for ts in page],
                "has_more": bool(next_cursor), "pin_count": len(channel.pins),
                "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_archive(self, args: _Args) -> JSON:
        channel = self._channel(args)
        if channel.is_im:
            raise SlackApiFailure("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackApiFailure("already_archived")
        if channel.name == "general":
            raise SlackApiFailure("cant_archive_general")
        channel.is_archived = True
        return {}

    def _conversations_join(self, args: _Args) -> JSON:
        channel = self._channel(args)
        if channel.is_im or channel.is_private:
            raise SlackApiFailure("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if self.bot.id in channel.members:
            return {"channel": channel.to_api(self.bot.id), "warning": "already_in_channel",
                    "response_metadata": {"warnings": ["already_in_channel"]}}
        channel.members.append(self.bot.id)
        return {"channel": channel.to_api(self.bot.id)}

    def _conversations_leave(self, args: _Args) -> JSON:
        channel = self._channel(args)
        if channel.is_im:
            raise SlackApiFailure("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if channel.name == "general":
            raise SlackApiFailure("cant_leave_general")
        if self.bot.id not in channel.members:
            return {"not_in_channel": True}
        channel.members.remove(self.bot.id)
        return {}

    def _chat_post_message(self, args: _Args) -> JSON:
        channel = self._channel(args, by_name=True, by_user=True)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        text, blocks, attachments = self._content(args)
        message = self.post(channel, text or "", blocks or [], thread_ts=args.text("thread_ts"),
                            attachments=attachments, metadata=self._metadata(args))
        return {"channel": channel.id, "ts": message.ts, "message": message.to_api(self.team_id)}

    def _chat_update(self, args: _Args) -> JSON:
        channel = self._channel(args)
        message = self._message(channel, args.required("ts"))
        if message.user != self.bot.id:
            raise SlackApiFailure("cant_update_message")
        if channel.is_archived:
            raise SlackApiFailure("is_inactive")
        text, blocks, attachments = self._content(args)
        # Slack keeps what the update leaves out: blocks and attachments unless given (an empty list clears them).
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = _normalised_blocks(blocks)
        if attachments is not None:
            message.attachments = attachments
        metadata = self._metadata(args)
        if metadata is not None:
            message.metadata = metadata
        message.edited, message.edited_ts = True, self.next_ts()
        return {"channel": channel.id, "ts": message.ts, "text": message.text,
                "message": message.to_api(self.team_id)}

    def _chat_post_ephemeral(self, args: _Args) -> JSON:
        channel = self._channel(args, by_name=True)
        user = self._user(args)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if user.id not in channel.members:
            raise SlackApiFailure("user_not_in_channel")
        text, blocks, attachments = self._content(args)
        message = self.post(channel, text or "", blocks or [], thread_ts=args.text("thread_ts"),
                            ephemeral_to=user.id, attachments=attachments)
        return {"message_ts": message.ts}

    def _chat_get_permalink(self, args: _Args) -> JSON:
        channel = self._channel(args)
        message = self._message(channel, args.required("message_ts"))
        link = f"https://{self.team_domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _pins_add(self, args: _Args) -> JSON:
        channel = self._channel(args)
        ts = args.required("timestamp", "no_item_specified")
        message = self._message(channel, ts)
        if any(pin.ts == message.ts for pin in channel.pins):
            raise SlackApiFailure("already_pinned")
        channel.pins.append(Pin(ts=message.ts, created=int(self.clock()), created_by=self.bot.id))
        return {}

    def _pins_list(self, args: _Args) -> JSON:
        channel = self._channel(args)
        items = [{"type": "message", "created": pin.created, "created_by": pin.created_by, "channel": channel.id,
                  "message": channel.messages[pin.ts].to_api(self.team_id)}
                 for pin in reversed(channel.pins) if pin.ts in channel.messages]
        return {"items": items}

    def _users_lookup_by_email(self, args: _Args) -> JSON:
        email = args.required("email").lower()
        user = next((u for u in self._users.values() if (u.email or "").lower() == email), None)
        if user is None:
            raise SlackApiFailure("users_not_found")
        return {"user": user.to_api(self.team_id)}

    def _users_info(self, args: _Args) -> JSON:
        return {"user": self._user(args).to_api(self.team_id)}

    def _view_definition(self, args: _Args) -> JSON:
        view = args.structure("view", "invalid_arguments")
        if view is None:
            raise _missing("view")
        errors = view_errors(view)
        if errors:
            raise SlackApiFailure("invalid_arguments", response_metadata={"messages": errors})
        assert isinstance(view, dict)
        return copy.deepcopy(view)

    def _check_external_id(self, definition: JSON, view: View | None = None) -> None:
        external_id = definition.get("external_id")
        if external_id and any(v.definition.get("external_id") == external_id and v is not view
                               for v in self._views.values()):
            raise SlackApiFailure("duplicate_external_id")

    def _exchange_trigger(self, args: _Args) -> Interaction:
        trigger_id = args.text("trigger_id") or args.text("interactivity_pointer")
        if not trigger_id:
            raise _missing("trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if self.clock() - trigger.issued_at > TRIGGER_LIFETIME:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        trigger.used = True
        return trigger.interaction

    def _views_open(self, args: _Args) -> JSON:
        definition = self._view_definition(args)
        self._check_external_id(definition)
        interaction = self._exchange_trigger(args)
        view = self.store_view(interaction.user_id, definition)
        interaction.views_opened.append(self.view_api(view))
        return {"view": self.view_api(view)}

    def _views_push(self, args: _Args) -> JSON:
        definition = self._view_definition(args)
        self._check_external_id(definition)
        interaction = self._exchange_trigger(args)
        top = next((v for v in reversed(self._views.values()) if v.user_id == interaction.user_id and v.is_open),
                   None)
        if top is not None and len(self.view_stack(top)) >= 3:
            raise SlackApiFailure("push_limit_reached")
        view = self.store_view(interaction.user_id, definition, previous=top)
        interaction.views_opened.append(self.view_api(view))
        return {"view": self.view_api(view)}

    def _views_update(self, args: _Args) -> JSON:
        view_id, external_id = args.text("view_id"), args.text("external_id")
        if not view_id and not external_id:
            raise _missing("view_id")
        view = self._views.get(view_id or "") or next(
            (v for v in self._views.values() if external_id and v.definition.get("external_id") == external_id),
            None)
        if view is None or not view.is_open:
            raise SlackApiFailure("not_found")
        expected = args.text("hash")
        if expected and expected != view.hash:
            raise SlackApiFailure("hash_conflict")
        definition = self._view_definition(args)
        self._check_external_id(definition, view)
        self.replace_view(view, definition)
        return {"view": self.view_api(view)}

    # ----- state for GET /sandbox/state ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        people = [u for u in self._users.values() if not u.is_bot]
        messages = sorted((m for c in self._channels.values() for m in c.messages.values()), key=lambda m: m.ts)
        return {
            "team": {"id": self.team_id, "domain": self.team_domain, "name": TEAM_NAME},
            "bot": {"user_id": self.bot.id, "bot_id": self.bot_id, "app_id": self.app_id, "name": self.bot.name},
            "users": [{"id": u.id, "name": u.name, "real_name": u.real_name, "email": u.email} for u in people],
            "channels": [{"id": c.id, "name": c.name, "topic": c.topic, "is_archived": c.is_archived,
                          "is_private": c.is_private, "is_im": c.is_im, "members": list(c.members),
                          "pins": [p.ts for p in c.pins], "created": c.created}
                         for c in self._channels.values()],
            "messages": [{"channel": m.channel, "ts": m.ts, "text": m.text, "blocks": copy.deepcopy(m.blocks),
                          "thread_ts": m.thread_ts, "edited": m.edited, "ephemeral_to": m.ephemeral_to,
                          "user": m.user, "metadata": copy.deepcopy(m.metadata),
                          "files": copy.deepcopy(m.files)} for m in messages],
            "files": self.files.snapshot(),
            "views": [{**self.view_api(v), "user": v.user_id, "open": v.is_open, "errors": v.errors}
                      for v in self._views.values()],
            "calls": dict(self.calls),
            "socket_mode": {"connections": self.socket_mode.connections},
        }


def view_errors(view: Any) -> list[str]:
    """Slack's complaints about a modal definition (views.open/push/update and response_action update/push)."""
    if not isinstance(view, dict):
        return ["[ERROR] must provide an object [json-pointer:/view]"]
    if view.get("type") != "modal":
        return ["[ERROR] must be one of modal [json-pointer:/view/type]"]
    errors = [f"[ERROR] {e}" for e in _text_errors(view.get("title"), "/view/title", 24, plain=True)]
    for key in ("submit", "close"):
        if view.get(key) is not None:
            errors += [f"[ERROR] {e}" for e in _text_errors(view[key], f"/view/{key}", 24, plain=True)]
    blocks = view.get("blocks")
    errors += [f"[ERROR] {e}" for e in block_errors(blocks, "/view/blocks", 100)]
    if isinstance(blocks, list) and view.get("submit") is None and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks):
        errors.append("[ERROR] must provide a submit property when using input blocks [json-pointer:/view]")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        if len(str(view.get(key, ""))) > limit:
            errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors


def _fault_response(fault: Fault) -> web.Response:
    if fault.status == 429:
        return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                 headers={"Retry-After": str(fault.retry_after)})
    # Slack's edge answers outages with a small HTML page, not the Web API's JSON.
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(fault.status, "Error")
    return web.Response(status=fault.status, content_type="text/html",
                        text=f"<html><body><h1>{fault.status} {reason}</h1></body></html>")


async def _read_args(request: web.Request) -> JSON:
    """Merge the query string with a JSON or form body, as Slack accepts either (slack_sdk sends both kinds)."""
    args: JSON = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return args
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise SlackApiFailure("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackApiFailure("json_not_object")
        body.pop("token", None)  # a JSON body must authenticate with the Authorization header; Slack ignores this
        args.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif content_type in ("", "application/octet-stream") and not request.headers.get("Content-Type"):
        raise SlackApiFailure("missing_post_type")
    else:
        raise SlackApiFailure("invalid_post_type")
    return args


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header.lower().startswith("bearer ") else None
