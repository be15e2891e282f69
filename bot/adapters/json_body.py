"""JSON request bodies, shared by the adapters' HTTP sessions (Slack's Web API under slack_sdk, ServiceNow's Table
API): written by orjson instead of the standard library's encoder, the biggest piece of Python in sending a card
(`chat.postMessage`, `chat.update`) and many times slower.

The document is the same; only its spelling differs: compact, and text as UTF-8 rather than `\\u` escapes (both
systems read UTF-8 JSON). What orjson will not write — a lone surrogate, an integer past 64 bits, a key that is not a
string — is written by the standard library as before, so a body that went out before still goes out.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_text(document: Any) -> str:
    """`document` as JSON text, for aiohttp's `json_serialize` (which encodes the text as UTF-8 once more)."""
    try:
        return orjson.dumps(document).decode()
    except orjson.JSONEncodeError:
        return json.dumps(document)
