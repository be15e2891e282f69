"""The catalogue's incident-response settings: who may do what from Slack (`permissions`), the incident roles and
status-update reminders (the incident manager's toolkit), the timeline reaction that marks key messages, when a
review is drafted, and how long the store keeps its bookkeeping (`retention`). Also the base every catalogue section
is validated with (`Section`: unknown keys refused, values frozen).

Kept beside `bot/catalogue.py` (which includes these in `Catalogue`) so that each module stays one concern: the
organisation there, how incidents are run here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ROLES = ("commander", "communications")
COMMANDER = "commander"
_ROLE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")


class Section(BaseModel):
    """A catalogue section: a misspelt key is an error naming it, not a setting silently ignored."""

    # defer_build: a section's own validator is built when first used, not at import; validating a catalogue builds
    # the whole schema once from the top (every command's start-up, `pavedroad report`'s among them).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


Who = Literal["anyone", "responders"]


class Permissions(Section):
    """Who may do what from Slack: `anyone` in the workspace (who has a PagerDuty account), or only `responders`
    (the incident's assignees and whoever is on call for the incident-manager rota)."""

    acknowledge: Who = "anyone"
    note: Who = "anyone"
    page: Who = "anyone"
    resolve: Who = "anyone"
    # The incident manager's toolkit: giving an incident role (`/incident role`, Take command), publishing a status
    # update (`/incident update` and its form), changing the priority (`/incident priority`).
    role: Who = "anyone"
    update: Who = "anyone"
    priority: Who = "anyone"


class StatusUpdates(Section):
    """Status-update reminders: an open high-urgency incident, or one at a priority in `remind_priorities`, with no
    status update for `remind_after` minutes gets a reminder in its channel, again every `remind_after` minutes
    until it is resolved."""

    remind_after: float = Field(default=30, gt=0)
    remind_priorities: list[str] = Field(default_factory=list)


class TimelinePolicy(Section):
    # The reaction (its Slack name, without colons) that puts a person's message on the incident's timeline.
    reaction: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]{1,100}$")


class ReviewPolicy(Section):
    # Draft the review document (Markdown, in the channel and on the ServiceNow ticket) when an incident resolves.
    on_resolve: bool = False


class RetentionPolicy(Section):
    """How long the store keeps its bookkeeping: inbox rows applied (or ignored) and outbox effects done are pruned
    `days` after they were received or queued. Incidents, timelines, tickets and handovers are the history: kept."""

    # At least a day: an applied inbox row is what makes a delivery sent again (PagerDuty retries for hours) a
    # duplicate, and a status-update reminder's row what keeps it from being posted twice within its interval.
    # At most a century: more is a typo (and past about 10^11 days, seconds lose their precision as floats).
    days: int = Field(default=30, ge=1, le=36_500)


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
