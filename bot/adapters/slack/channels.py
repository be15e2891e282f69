"""The teams' (and product domains') Slack channels that the catalogue names: found with conversations.list,
created with conversations.create when missing. Never archived or renamed: a channel holds people's history.

Synchronous `slack_sdk.WebClient`, as the rest of `pavedroad provision` is a command-line run.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.catalogue import Catalogue
from bot.errors import ProvisioningError


def wanted_channels(catalogue: Catalogue) -> list[str]:
    names = [t.slack_channel for t in catalogue.teams if t.slack_channel]
    names += [d.slack_channel for d in catalogue.domains if d.slack_channel]
    return list(dict.fromkeys(n.lstrip("#").lower() for n in names))


class SlackChannels:
    def __init__(self, token: str, base_url: str | None) -> None:
        self.client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL)

    def missing(self, names: list[str]) -> list[str]:
        """The channels among `names` that do not exist (archived ones count as existing: unarchive them by hand)."""
        existing: set[str] = set()
        try:
            for page in self.client.conversations_list(types="public_channel", limit=200):
                existing |= {str(c["name"]) for c in page["channels"]}
        except SlackApiError as error:
            raise ProvisioningError(_explain("conversations.list", error)) from None
        return [n for n in names if n not in existing]

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
