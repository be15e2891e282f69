"""Lone UTF-16 surrogates (half a character, `"\\ud83d"` escaped alone in JSON) in what the sandbox is sent.

JSON's `\\u` escapes let one through, and the services this sandbox emulates give them back that way (Slack a
message's text, PagerDuty a name or an error's words, ServiceNow a work note: the bot is tested against each), so the
emulators keep them wherever the real service's JSON carries them, escaped. Two places cannot carry one, and failed
there with a bare 500: a slash command, which Slack sends the app as a form (`user.py` answers such a command 400,
naming the field, `lone_surrogate`), and an HTML page (the sandbox page, PagerDuty's and ServiceNow's incident pages),
which shows each as U+FFFD, the replacement character, as a browser shows any text it cannot decode (`shown`).
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def lone_surrogate(document: Any, pointer: str = "") -> str | None:
    """The JSON pointer (`/text`, `/values/block/action`, `/to/1`; "" for the document itself) of the first string
    in a parsed JSON document, an object's key or a value, that holds a lone surrogate; None when none does. (A
    well-formed escaped pair, `\\ud83d\\udea8`, is parsed into its one character and is not one.)"""
    if isinstance(document, str):
        return pointer if _SURROGATE.search(document) else None
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{pointer}/{_printable(str(key))}"
            if _SURROGATE.search(str(key)):
                return where
            found = lone_surrogate(value, where)
            if found is not None:
                return found
    if isinstance(document, list):
        for index, value in enumerate(document):
            found = lone_surrogate(value, f"{pointer}/{index}")
            if found is not None:
                return found
    return None


def shown(text: str) -> str:
    """`text` fit for a page: each lone surrogate shown as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
