"""Text from outside made fit to keep: what every store (SQLite, PostgreSQL) and every outside system takes.

Two things a Python `str` may hold that no store takes: a lone surrogate (half an emoji — a JSON `\\ud800` escape
decodes to one), which cannot be written as UTF-8, so SQLite's driver refuses it; and NUL, which PostgreSQL's text
cannot hold. An outside service's answer may hold either (an error message, a name); `storable` is the one rule for
both, applied where such text enters: IntegrationError (every outside failure's words, bot/errors.py), the webhooks'
documents (bot/adapters/wire.py), every request of Slack's as Bolt reads it — what people type in commands and forms
(`storable_document`, commands/in_flight.py's DrainingApp; and the records older versions stored from them, read in
bot/domain/from_slack.py) — and what the bot keeps of the services' answers — a message Slack gives back to be a
key message and a person's name (bot/adapters/slack/chat.py), PagerDuty's users (bot/adapters/pagerduty/paging.py).
Pure: standard library only.
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD and each NUL removed; text holding neither is returned as
    it is. A surrogate becomes U+FFFD, the replacement character, because it is half a character that cannot be read:
    U+FFFD says so where it stood. A NUL is a whole character no reader shows (nor any service means as text), so it
    goes. A surrogate pair in a `str` is two lone surrogates (Python joins a JSON escape's pair into one character
    when it decodes it), so each is replaced."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(_replacement, text)


def _replacement(found: re.Match[str]) -> str:
    return "" if found.group() == "\x00" else "\ufffd"


def storable_document(value: Any) -> Any:
    """A JSON document (or any value made of dicts, lists and strings) with every string in it, keys included, made
    `storable`; what is not a string, list or dict is left as it is."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_document(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable_document(item) for key, item in value.items()}
    return value
