"""The sandbox Slack workspace and the app installed in it, as Slack holds them, and the rules that change them.

Owns the state (people and the bot user, channels with their messages and pins, modals, the trigger ids and response
URLs users' actions come with), the app's side of the installation (its ids, signing secret, Request URL, Socket
Mode server, the HTTP client Slack reaches the bot with, the Events API events it subscribes to, how Slack signs
what it sends it, and the wait for it to settle after that) and every change to that state that more than one way in
shares: the Web API methods (`methods/`), file uploads (`files.py`), acting as a user towards the app (`user.py`)
and posting and reacting as a person (`person.py`) all change the workspace through here. What a thing looks like is
`model.py`'s; the HTTP side of the Web API is `emulator.py`'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import aiohttp

from bot.catalogue import SandboxPerson
from sandbox.slack.blocks import block_errors, normalised_blocks, view_errors
from sandbox.slack.index import ChannelBook
from sandbox.slack.model import (
    BOT_NAME,
    JSON,
    SLACKBOT,
    TEAM_DOMAIN,
    TOMBSTONE_TEXT,
    Args,
    Channel,
    Interaction,
    Message,
    SlackApiFailure,
    SlackUser,
    Trigger,
    View,
    derived_id,
)
from sandbox.slack.socket_mode import SocketModeServer

# The bot's scopes in app_manifest.yml (tests/test_manifest.py keeps them in step).
BOT_SCOPES = frozenset({"channels:manage", "channels:read", "channels:history", "groups:read", "groups:history",
                        "im:write", "im:history", "chat:write", "chat:write.public", "pins:write", "pins:read",
                        "files:write", "users:read", "users:read.email", "commands", "app_mentions:read",
                        "reactions:read"})
TRIGGER_LIFETIME = 3.0  # seconds: Slack's trigger ids are exchangeable for three seconds
_CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")
# A bot that keeps calling Slack does not hold a control route's answer back for longer than this past
# `settle_seconds`.
_SETTLE_CAP = 5.0


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 request signature, on everything Slack sends the app over HTTP."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackWorkspace:
    """The workspace's state and its rules. `bot_events_url` is where Slack would deliver commands and
    interactions (the bot's POST /slack/events); the host sets it once the bot is listening."""

    def __init__(self, *, people: Sequence[SandboxPerson], channels: Sequence[str], signing_secret: str,
                 clock: Callable[[], float] = time.time, bot_name: str = BOT_NAME,
                 settle_seconds: float = 1.5, quiet_seconds: float = 0.3, ack_timeout_seconds: float = 3.0,
                 public_url: str | None = None) -> None:
        self.signing_secret = signing_secret
        self.clock = clock
        self.bot_events_url: str | None = None
        # The app's configuration, as app_manifest.yml declares it (tests/test_manifest.py keeps them in step): the
        # Events API events it subscribes to, and the slash commands registered with should_escape.
        self.bot_events: frozenset[str] = frozenset({"app_mention", "reaction_added", "app_home_opened",
                                                     "tokens_revoked", "app_uninstalled", "member_joined_channel",
                                                     "pin_removed", "channel_rename", "group_rename"})
        self.escaped_commands: frozenset[str] = frozenset({"/incident"})
        # The workspace's custom emoji, by name: a reaction may name one of these or a standard emoji (emoji.py).
        self.custom_emoji: set[str] = set()
        # The bot token's scopes, as the manifest asks for them: reading a channel's list, details or messages
        # needs the scope of its kind (channels:* for public channels, groups:* for private ones), else
        # `missing_scope` (`need_scope`).
        self.bot_scopes: frozenset[str] = BOT_SCOPES
        # The bot token the Web API takes (set by the emulator), those it no longer accepts with Slack's answer to
        # them, and whether the app is installed: its slash command and buttons are gone once not (installation.py).
        self.bot_token = ""
        self.refused_tokens: dict[str, str] = {}
        self.installed = True
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
        self.last_activity = 0.0  # event-loop time of the bot's last call to this emulator
        self._users: dict[str, SlackUser] = {self.bot.id: self.bot}
        for person in people:
            if person.slack:
                self._add_person(person)
        self.channels = ChannelBook()
        self._deleted_ids: set[str] = set()  # channels deleted (delete_channel_as_admin): their ids never reused
        for name in dict.fromkeys(channels):
            self.new_channel(name.lstrip("#"), is_private=False)
        self.views: dict[str, View] = {}
        self._triggers: dict[str, Trigger] = {}
        self._interactions: dict[str, Interaction] = {}
        self._last_ts = 0
        self._serial = 0
        self._session: aiohttp.ClientSession | None = None

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

    @property
    def channels(self) -> ChannelBook:
        """Every channel by id, also indexed by name (index.py): no lookup scans the workspace."""
        return self._channels

    @channels.setter
    def channels(self, channels: Mapping[str, Channel]) -> None:
        self._channels = channels if isinstance(channels, ChannelBook) else ChannelBook(channels)

    def resolve_user(self, ref: str) -> SlackUser | None:
        """A user by id, name (with or without '@') or email."""
        ref = ref.strip()
        if ref in self._users:
            return self._users[ref]
        key = ref.removeprefix("@").lower()
        return next((u for u in self._users.values() if u.name == key or (u.email or "").lower() == key), None)

    def find_channel(self, ref: str) -> Channel | None:
        """Any channel by id or name (with or without '#'), as a person would name it; not limited to the bot's."""
        return self.channels.get(ref) or self.channels.named(ref.removeprefix("#"))

    @property
    def users(self) -> Mapping[str, SlackUser]:
        """The people in the workspace by id (not the bot)."""
        return MappingProxyType({k: u for k, u in self._users.items() if not u.is_bot})

    def account(self, user_id: str) -> SlackUser | None:
        """Anyone by user id, the bot included."""
        return self._users.get(user_id)

    def create_channel_as(self, user_ref: str, name: str, *, is_private: bool = False) -> Channel:
        """A person creates a channel (the bot is not in it), under the same rules as conversations.create.
        Raises SlackApiFailure with Slack's error code (name_taken, invalid_name_specials...)."""
        user = self.resolve_user(user_ref)
        if user is None or user.is_bot:
            raise SlackApiFailure("user_not_found")
        channel = self.new_channel(self.check_channel_name(name), is_private=is_private)
        channel.creator, channel.members = user.id, [user.id]
        return channel

    def delete_channel_as_admin(self, channel_ref: str) -> Channel:
        """A workspace admin deletes a channel (Settings → Delete this channel): gone with its messages, its name free
        again; its id is never given to another channel, as Slack's ids are not. Raises SlackApiFailure
        (`channel_not_found`)."""
        channel = self.find_channel(channel_ref)
        if channel is None or channel.is_im:
            raise SlackApiFailure("channel_not_found")
        del self.channels[channel.id]
        self._deleted_ids.add(channel.id)
        return channel

    def interaction(self, interaction_id: str) -> Interaction | None:
        """A user's interaction by id (the last part of its response URL): what the bot has answered to it so far."""
        return self._interactions.get(interaction_id)

    def find_view(self, view_id: str) -> View | None:
        return self.views.get(view_id)

    def view_api(self, view: View) -> JSON:
        return view.to_api(self.team_id, self.app_id, self.bot_id)

    # ----- what a Web API method names in its arguments, as the bot may see it -------------------------------------

    def visible(self, channel: Channel) -> bool:
        # The bot sees every public channel (and may post there: chat:write.public) but only its private ones.
        return not (channel.is_private or channel.is_im) or self.bot.id in channel.members

    def need_scope(self, scope: str) -> None:
        """Slack's answer to a call the token's scopes do not cover: `missing_scope`, saying what was needed."""
        if scope not in self.bot_scopes:
            raise SlackApiFailure("missing_scope", needed=scope, provided=",".join(sorted(self.bot_scopes)))

    def need_read(self, channel: Channel, what: str) -> None:
        """`what` ("read", "history") of `channel` needs its kind's scope: channels:… public, groups:… private,
        im:… a direct message (the bot's own with a person: its Messages tab)."""
        self.need_scope(f"{'im' if channel.is_im else 'groups' if channel.is_private else 'channels'}:{what}")

    def channel_arg(self, args: Args, *, by_name: bool = False, by_user: bool = False) -> Channel:
        """The channel `args` names (by id; by name or by a user's id for a DM where the method allows it)."""
        ref = args.text("channel")
        if not ref:
            raise SlackApiFailure("channel_not_found")
        channel = self.channels.get(ref)
        if channel is None and by_name:
            channel = self.find_channel(ref)
        if channel is None and by_user and ref in self._users and ref != self.bot.id:
            channel = self.im_with(self._users[ref])
        if channel is None or not self.visible(channel):
            raise SlackApiFailure("channel_not_found")
        return channel

    def user_arg(self, args: Args, name: str = "user") -> SlackUser:
        user = self._users.get(args.text(name) or "")
        if user is None:
            raise SlackApiFailure("user_not_found")
        return user

    def message_in(self, channel: Channel, ts: str) -> Message:
        """A message everyone in the channel sees (not an ephemeral one)."""
        message = channel.messages.get(ts)
        if message is None or message.ephemeral_to:
            raise SlackApiFailure("message_not_found")
        return message

    def exchange_trigger(self, trigger_id: str) -> Interaction:
        """Use a trigger id, once and within its three seconds, for the interaction it came with."""
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if self.clock() - trigger.issued_at > TRIGGER_LIFETIME:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        trigger.used = True
        return trigger.interaction

    # ----- state changes ------------------------------------------------------------------------------------------

    def touch(self) -> None:
        self.last_activity = asyncio.get_running_loop().time()

    async def settled(self) -> None:
        """Wait `settle_seconds` after something was sent to the bot, then until it has made no call for
        `quiet_seconds` (at most `_SETTLE_CAP` more): what a control route waits for before it reports."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            now = loop.time()
            if now - start >= self.settle_seconds and now - self.last_activity >= self.quiet_seconds:
                return
            if now - start >= self.settle_seconds + _SETTLE_CAP:
                return
            await asyncio.sleep(min(0.02, max(self.quiet_seconds, 0.001)))

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
        self._triggers[trigger_id] = Trigger(interaction, self.clock())
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
                          blocks=normalised_blocks(blocks), attachments=attachments or [], thread_ts=thread_ts,
                          metadata=metadata, ephemeral_to=ephemeral_to, bot_id=self.bot_id if is_bot else None,
                          app_id=self.app_id if is_bot else None)
        channel.messages[message.ts] = message
        return message

    def respond(self, interaction: Interaction, body: JSON) -> str | None:
        """Apply what the bot sent to a response URL (or answered a command with), as Slack would. Returns the
        error code Slack would answer with, or None."""
        channel = self.channels.get(interaction.channel_id or "")
        if channel is None:
            return "channel_not_found"
        original = channel.messages.get(interaction.source_ts or "")
        if body.get("delete_original") in (True, "true"):
            if original is not None:
                self.delete(channel, original)
                interaction.source_ts = None
            return None
        text = str(body.get("text") or "")
        blocks = body.get("blocks") or []
        if not text and not blocks:
            return "no_text"
        if len(text) > 40_000:  # as chat.postMessage
            return "msg_too_long"
        if block_errors(blocks, "/blocks", 50):
            return "invalid_blocks"
        if body.get("replace_original") in (True, "true") and original is not None:
            original.text, original.blocks = text, normalised_blocks(blocks)
            return None
        in_channel = body.get("response_type") == "in_channel"
        message = self.post(channel, text, blocks, thread_ts=body.get("thread_ts"),
                            ephemeral_to=None if in_channel else interaction.user_id)
        if interaction.kind == "command":
            interaction.source_ts = message.ts  # a command's "original" is the last response it got
        return None

    def delete(self, channel: Channel, message: Message) -> None:
        """Delete a message as Slack does: gone from the channel, its pin with it. A thread parent whose replies
        are still there becomes a tombstone ("This message was deleted.", from Slackbot) that keeps the thread;
        a reply deleted leaves the parent one fewer, and a tombstone goes once its last reply has."""
        channel.pins[:] = [pin for pin in channel.pins if pin.ts != message.ts]
        is_reply = bool(message.thread_ts) and message.thread_ts != message.ts
        if message.reply_count and not is_reply:
            message.user, message.text, message.subtype = SLACKBOT, TOMBSTONE_TEXT, "tombstone"
            message.thread_ts = message.ts
            message.blocks, message.attachments, message.files, message.reactions = [], [], [], {}
            message.metadata, message.bot_id, message.app_id, message.edited = None, None, None, False
            return
        del channel.messages[message.ts]
        root = channel.messages.get(message.thread_ts or "") if is_reply else None
        if root is not None and not message.ephemeral_to:
            root.reply_count = max(root.reply_count - 1, 0)
            if root.subtype == "tombstone" and not root.reply_count:
                del channel.messages[root.ts]

    def store_view(self, user_id: str, definition: JSON, *, previous: View | None = None) -> View:
        view_id = derived_id("V", secrets.token_hex(16), 10)
        definition = {**definition, "blocks": normalised_blocks(definition["blocks"])}
        view = View(id=view_id, user_id=user_id, definition=definition, hash=self._view_hash(),
                    root_view_id=previous.root_view_id if previous else view_id,
                    previous_view_id=previous.id if previous else None)
        self.views[view_id] = view
        return view

    def replace_view(self, view: View, definition: JSON) -> None:
        definition = {**definition, "blocks": normalised_blocks(definition["blocks"])}
        view.definition, view.hash, view.errors, view.values = definition, self._view_hash(), None, {}

    def check_view(self, definition: Any) -> list[str]:
        return view_errors(definition)

    def view_stack(self, view: View) -> list[View]:
        return [v for v in self.views.values() if v.root_view_id == view.root_view_id and v.is_open]

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

    def check_channel_name(self, name: str | None) -> str:
        """A new channel's name under Slack's rules, or the error Slack names."""
        if not name:
            raise SlackApiFailure("invalid_name_required")
        if len(name) > 80:
            raise SlackApiFailure("invalid_name_maxlength")
        if not _CHANNEL_NAME.fullmatch(name):
            raise SlackApiFailure("invalid_name_specials")
        if not name.strip("-_"):
            raise SlackApiFailure("invalid_name_punctuation")
        if self.channels.named(name) is not None:
            raise SlackApiFailure("name_taken")
        return name

    def new_channel(self, name: str, *, is_private: bool, is_im: bool = False, seed: str | None = None) -> Channel:
        channel_id = next(i for i in _candidate_ids("D" if is_im else "C", seed or f"channel:{name}")
                          if i not in self.channels and i not in self._deleted_ids)
        channel = Channel(id=channel_id, name=name, is_private=is_private, is_im=is_im, created=int(self.clock()),
                          creator=self.bot.id, members=[self.bot.id])
        self.channels[channel_id] = channel
        return channel

    def im_with(self, user: SlackUser) -> Channel:
        """The app's direct-message channel with the user (its Messages tab), opened on first use."""
        # The DM's id derives from the user's (new_channel): look at the ids it may have, not at every channel.
        for channel_id in _candidate_ids("D", f"im:{user.id}"):
            existing = self.channels.get(channel_id)
            if existing is None:
                break
            if existing.is_im and user.id in existing.members:
                return existing
        channel = self.new_channel(user.name, is_private=True, is_im=True, seed=f"im:{user.id}")
        channel.members.append(user.id)
        return channel


def _candidate_ids(prefix: str, seed: str) -> Iterator[str]:
    """The ids a new channel made from `seed` may get, in the order new_channel tries them (the first one free)."""
    yield derived_id(prefix, seed, 10)
    for attempt in itertools.count(1):
        yield derived_id(prefix, f"{seed}:{attempt}", 10)


# A Web API method (`methods/`): what it answers besides `"ok": true`, or SlackApiFailure.
WebApiMethod = Callable[[SlackWorkspace, Args], JSON]
