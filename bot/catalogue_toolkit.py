"""The catalogue's sections for the incident manager's toolkit: the incident roles, and status-update reminders.

Kept beside `bot/catalogue.py` (which includes them in `Catalogue`) so that it stays one screenful per concern.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ROLES = ("commander", "communications")
COMMANDER = "commander"
_ROLE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")


class StatusUpdates(BaseModel):
    """Status-update reminders: an open high-urgency incident, or one at a priority in `remind_priorities`, with no
    status update for `remind_after` minutes gets a reminder in its channel, again every `remind_after` minutes
    until it is resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    remind_after: float = Field(default=30, gt=0)
    remind_priorities: list[str] = Field(default_factory=list)


def check_roles(roles: list[str]) -> list[str]:
    """The catalogue's `roles`, or a ValueError that names the fix."""
    bad = [r for r in roles if not _ROLE.match(r)]
    if bad:
        raise ValueError(f"{bad} are not role names: use lower-case words joined by '-', e.g. 'commander', "
                         "'communications', 'scribe'")
    if COMMANDER not in roles:
        raise ValueError("the roles must include 'commander' (who leads the incident); add it to the list")
    if len(set(roles)) != len(roles):
        raise ValueError("a role is listed twice; list each role once")
    return roles
