"""Ports: the narrow seams between services and the outside world (typing.Protocol, so fakes need no inheritance).

Adapters implement them (bot/adapters/), the sandbox's emulators stand behind the adapters in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    topic: str
    creator: str | None
    is_archived: bool


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str


class Chat(Protocol):
    """Slack, as the services need it."""

    async def bot_user_id(self) -> str: ...
    async def create_channel(self, name: str) -> ChannelInfo: ...
    async def find_channel(self, name: str) -> ChannelInfo | None: ...
    async def set_topic(self, channel: str, topic: str) -> None: ...
    async def invite(self, channel: str, user_ids: Sequence[str]) -> None: ...
    async def post_message(self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None,
                           thread_ts: str | None = None,
                           metadata: dict[str, Any] | None = None) -> PostedMessage: ...
    async def update_message(self, channel: str, ts: str, text: str,
                             blocks: Sequence[dict[str, Any]] | None = None) -> None: ...
    async def pin(self, channel: str, ts: str) -> None: ...
    async def find_posted(self, channel: str, marker: str, oldest: float) -> PostedMessage | None:
        """A message this bot posted in `channel` (id or name) since `oldest` whose metadata carries `marker`.
        None when there is none, or when Slack will not let the bot look (not a member of the channel)."""
        ...
    async def user_id_by_email(self, email: str) -> str | None: ...


@dataclass(frozen=True)
class PagingUser:
    id: str
    name: str
    email: str


class Paging(Protocol):
    """PagerDuty, as the services need it."""

    async def user(self, user_id: str) -> PagingUser | None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
