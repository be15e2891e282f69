"""The workspace's channels, indexed by what the Web API looks them up by, so a call costs the same in a workspace
of ten channels as in one of ten thousand (a long sandbox session or soak makes a channel per incident).

`ChannelBook` is a dict of channels by id (what `SlackWorkspace.channels` always was) that also keeps the
non-DM channels by name, as Slack's names are unique among them. A channel's name changes only through `rename`
(a person renaming it: channel_acts.py), which keeps the index; its messages are already a dict by ts
(`Channel.messages`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.slack.model import Channel


class ChannelBook(dict[str, Channel]):
    def __init__(self, channels: Mapping[str, Channel] | Iterable[tuple[str, Channel]] = ()) -> None:
        super().__init__()
        self._by_name: dict[str, str] = {}
        self.update(channels)

    def __setitem__(self, channel_id: str, channel: Channel) -> None:
        if channel_id in self:
            self._forget(channel_id)
        super().__setitem__(channel_id, channel)
        if not channel.is_im:
            self._by_name[channel.name] = channel_id

    def __delitem__(self, channel_id: str) -> None:
        self._forget(channel_id)
        super().__delitem__(channel_id)

    def pop(self, channel_id: str, *default: Any) -> Any:
        if channel_id in self:
            self._forget(channel_id)
        return super().pop(channel_id, *default)

    def update(self, *others: Any, **named: Channel) -> None:
        for other in (*others, named):
            for channel_id, channel in (other.items() if isinstance(other, Mapping) else other):
                self[channel_id] = channel

    def setdefault(self, channel_id: str, channel: Channel | None = None) -> Channel:
        if channel_id not in self:
            assert channel is not None, "a channel book holds channels only"
            self[channel_id] = channel
        return self[channel_id]

    def clear(self) -> None:
        super().clear()
        self._by_name.clear()

    def rename(self, channel_id: str, name: str) -> None:
        """The channel called `name` from now on (the caller has checked the name is free)."""
        channel = self[channel_id]
        self._forget(channel_id)
        if name != channel.name and channel.name not in channel.previous_names:
            channel.previous_names.append(channel.name)  # as Slack keeps them (conversations.list, .info)
        channel.name = name
        if not channel.is_im:
            self._by_name[name] = channel_id

    def named(self, name: str) -> Channel | None:
        """The channel (not a DM) called `name`, if any: one dict lookup."""
        channel = self.get(self._by_name.get(name, ""))
        return channel if channel is not None and channel.name == name and not channel.is_im else None

    def _forget(self, channel_id: str) -> None:
        old = self[channel_id]
        if self._by_name.get(old.name) == channel_id:
            del self._by_name[old.name]
