"""Effects as a newer version of the bot would queue them, for the tests of what this version leaves to a newer
replica (a rolling upgrade on one store): a kind it has never heard of, and a kind it knows with a field it does not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain.effects import Effect


@dataclass(frozen=True)
class AskedByANewerVersion(Effect):
    """An effect of a kind this version has never heard of (a newer replica queued it)."""

    kind: ClassVar[str] = "adopt_a_newer_idea"
    detail: str


@dataclass(frozen=True)
class RefreshCardOfANewerVersion(Effect):
    """A kind this version knows, with a field a newer version added to it."""

    kind: ClassVar[str] = "refresh_card"
    style: str
