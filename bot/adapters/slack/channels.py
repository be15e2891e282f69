"""The teams' (and product domains') Slack channels that the catalogue names: found with conversations.list (an id
also with conversations.info), created with conversations.create when a name is missing, never when an id is. Never
archived, unarchived or renamed: a channel holds people's history; an archived one is reported, for people to decide.

Synchronous `slack_sdk.WebClient`, as the rest of `pavedroad provision` is a command-line run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.catalogue import Catalogue
from bot.errors import ProvisioningError
from bot.ports import CHANNEL_GONE

# A channel id, as the catalogue accepts one (bot/catalogue_response.py): a channel to find, never one to create.
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,}$")


def wanted_channels(catalogue: Catalogue) -> dict[str, str]:
    """The teams' and domains' channels → the first catalogue field naming each (`teams[0].slack_channel`). A name is
    written as Slack writes it (no #, lower case); an id is kept as it is."""
    named = [(f"teams[{i}].slack_channel", t.slack_channel) for i, t in enumerate(catalogue.teams)]
    named += [(f"domains[{i}].slack_channel", d.slack_channel) for i, d in enumerate(catalogue.domains)]
    wanted: dict[str, str] = {}
    for where, channel in named:
        if channel:
            ref = channel.lstrip("#")
            wanted.setdefault(ref if _CHANNEL_ID.match(ref) else ref.lower(), where)
    return wanted


@dataclass
class ChannelCheck:
    missing: list[str] = field(default_factory=list)  # names to create
    archived: list[str] = field(default_factory=list)  # '#name (field)': the bot cannot post there
    problems: list[str] = field(default_factory=list)  # ids that are no channel: the catalogue is wrong


class SlackChannels:
    def __init__(self, token: str, base_url: str | None) -> None:
        self.client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL)

    def check(self, wanted: Mapping[str, str]) -> ChannelCheck:
        """Which of `wanted` (see `wanted_channels`) are missing, archived (unarchived by hand: provisioning never
        does), or ids of no channel."""
        listed: dict[str, tuple[str, bool]] = {}  # name and id → (name, archived)
        try:
            for page in self.client.conversations_list(types="public_channel", limit=200):
                for channel in page["channels"]:
                    found = (str(channel["name"]), bool(channel.get("is_archived")))
                    listed[str(channel["name"])] = listed[str(channel["id"])] = found
        except SlackApiError as error:
            raise ProvisioningError(_explain("conversations.list", error)) from None
        result = ChannelCheck()
        for ref, where in wanted.items():
            is_id = bool(_CHANNEL_ID.match(ref))
            known = listed.get(ref) or (self._by_id(ref) if is_id else None)  # a private channel is not listed
            if known is None and is_id:
                result.problems.append(f"{where}: {ref} is no Slack channel the bot can see; copy the id from the "
                                       "channel's details in Slack (the bot must be in a private one), or write the "
                                       "channel's name")
            elif known is None:
                result.missing.append(ref)
            elif known[1]:
                result.archived.append(f"#{known[0]} ({where})")
        return result

    def _by_id(self, channel_id: str) -> tuple[str, bool] | None:
        try:
            channel = self.client.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as error:
            if error.response.get("error") == CHANNEL_GONE:
                return None
            raise ProvisioningError(_explain(f"conversations.info {channel_id}", error)) from None
        return str(channel["name"]), bool(channel.get("is_archived"))

    def create(self, name: str) -> str:
        try:
            answer = self.client.conversations_create(name=name, is_private=False)
        except SlackApiError as error:
            if error.response.get("error") == "name_taken":
                return name  # made meanwhile (or archived): it exists, which is all we want
            raise ProvisioningError(_explain(f"conversations.create #{name}", error)) from None
        return str(answer["channel"]["id"])


def _explain(what: str, error: SlackApiError) -> str:
    code = error.response.get("error")
    hint = {"invalid_auth": "SLACK_BOT_TOKEN was refused; use the app's Bot User OAuth Token",
            "not_authed": "SLACK_BOT_TOKEN was refused; use the app's Bot User OAuth Token",
            "missing_scope": "the Slack app needs the channels:read and channels:manage scopes",
            "ratelimited": "Slack's rate limit; run apply again in a minute",
            "invalid_name_specials": "fix the channel name in the catalogue (lower case, digits, - and _ only)"}
    return f"Slack {what}: {code}" + (f" — {hint[str(code)]}" if str(code) in hint else "")
