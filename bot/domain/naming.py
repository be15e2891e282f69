"""Incident channel names: a configurable pattern filled in and made to follow Slack's channel-name rules."""

from __future__ import annotations

import re
import unicodedata

MAX_CHANNEL_NAME = 80


def slugify(text: str, limit: int = MAX_CHANNEL_NAME) -> str:
    """Lowercase ASCII letters, digits, '-' and '_'; accents folded, everything else a single '-'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9_]+", "-", folded).strip("-_")
    return slug[:limit].rstrip("-_")


def channel_name(pattern: str, *, number: int, title: str, service: str, incident_id: str) -> str:
    """Fill the pattern; the slug is cut so that the whole name fits in Slack's 80 characters."""
    fixed = pattern.format(number=number, slug="", service=slugify(service), id=incident_id.lower())
    room = max(MAX_CHANNEL_NAME - len(fixed), 0)
    name = pattern.format(number=number, slug=slugify(title, room), service=slugify(service),
                          id=incident_id.lower())
    name = slugify(name, MAX_CHANNEL_NAME)
    return name or f"inc-{number}"


# How many names an opening tries suffixed (`-2` … `-10`, counting the pattern's own) before the incident's id.
MAX_NAME_ATTEMPTS = 10


def names_to_try(base: str, incident_id: str, number: int) -> list[str]:
    """The names an opening tries for an incident's channel, in order: `base` (the pattern's), suffixed (`-2`, …),
    then the one ending in the incident's PagerDuty id, a name no other incident's can be."""
    tail = f"-{slugify(incident_id) or number}"
    return [base, *(with_suffix(base, attempt) for attempt in range(1, MAX_NAME_ATTEMPTS)),
            base[: MAX_CHANNEL_NAME - len(tail)].rstrip("-_") + tail]


def with_suffix(name: str, attempt: int) -> str:
    """The name to try after `attempt` collisions with channels that are not ours: inc-12-db-down-2, -3, ..."""
    suffix = f"-{attempt + 1}"
    return name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-_") + suffix
