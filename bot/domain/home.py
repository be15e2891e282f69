"""The App Home tab as data: whose incidents an incident is, and when a change to it means Homes to refresh. Pure.

An incident concerns a person (by PagerDuty user id) when they are assigned to it or hold one of its roles. Roles
are the incident manager's toolkit's (issue 14): `people_of` reads them when the Incident has them, so this is the
one place to change when they land.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from bot.domain.effects import Effect, RefreshHomes


class _Assignee(Protocol):
    @property
    def id(self) -> str: ...


class Incident(Protocol):
    """What the Home needs of bot.domain.incident.Incident (a Protocol: that module imports this one)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def assignees(self) -> Sequence[_Assignee]: ...


def people_of(incident: Incident) -> tuple[str, ...]:
    """PagerDuty user ids the incident concerns: its assignees, then its role holders (if it has roles)."""
    roles: Iterable[object] = getattr(incident, "roles", None) or ()
    holders = [str(getattr(role, "holder_id", None) or getattr(role, "user_id", None) or "") for role in roles]
    return tuple(dict.fromkeys([p.id for p in incident.assignees] + [h for h in holders if h]))


def concerns(incident: Incident, pagerduty_user_id: str | None) -> bool:
    return pagerduty_user_id is not None and pagerduty_user_id in people_of(incident)


def home_refresh(before: Incident | None, after: Incident) -> tuple[Effect, ...]:
    """Homes to publish again after a change: on opening, acknowledging, resolving or reopening the incident, and
    when who it concerns changes — for everyone it concerned before or concerns now."""
    if before is not None and (before.status, people_of(before)) == (after.status, people_of(after)):
        return ()
    people = tuple(dict.fromkeys((*(people_of(before) if before else ()), *people_of(after))))
    return (RefreshHomes(after.id, people),) if people else ()
