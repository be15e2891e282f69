"""What every part of the PagerDuty emulator speaks: the JSON it answers, the errors PagerDuty answers with (status,
code, message, errors), PagerDuty-looking ids (stable for what the sandbox seeds, random for what happens), and REST
timestamps. Imports nothing of the emulator's, so any module may use it."""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

_ALPHABET = string.digits + string.ascii_uppercase
Json = dict[str, Any]


class PagerDutyError(Exception):
    """An error PagerDuty would answer: HTTP status, PagerDuty error code, message and details."""

    def __init__(self, status: int, code: int, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, list(errors)

    def body(self) -> Json:
        return {"error": {"message": self.message, "code": self.code, "errors": self.errors}}


def not_found(what: str) -> PagerDutyError:
    return PagerDutyError(404, 2100, "Not Found", [f"{what} not found"])


def invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, 2001, "Invalid Input Provided", errors)


def stable_id(prefix: str, key: str, length: int = 6) -> str:
    """A PagerDuty-looking id derived from `key`, so a user keeps their id across sandbox restarts."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def random_id(prefix: str, length: int) -> str:
    # Random rather than derived: the bot's store outlives a sandbox restart, and must not see an old id reused.
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def iso(moment: datetime) -> str:
    """REST timestamps: seconds precision, UTC, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
