"""The App Home tab as data: whose incidents an incident is, and when a change to it means Homes to refresh. Pure.

An incident concerns a person when they are assigned to it (known by PagerDuty user id) or hold one of its roles
(the incident manager's toolkit's; known by Slack user id, as Slack named them).

A refresh is not an effect: it only asks the replica's in-memory publisher for a Home a second later (best effort,
coalesced per person, rebuilt anyway when the tab is opened), so it is not worth a durable outbox row with its claim,
lease and commits. A decision carries it (`Decision.homes`) and whoever stores the decision asks for it once the
decision is committed (bot/services/worker.py `settle`). An incident's opening carries none: the channel's opening
refreshes the Homes once the channel is there to link to (bot/services/channel_opening.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class _Assignee(Protocol):
    @property
    def id(self) -> str: ...


class _RoleHolder(Protocol):
    @property
    def slack_user_id(self) -> str: ...


class Incident(Protocol):
    """What the Home needs of bot.domain.incident.Incident (a Protocol: that module imports this one)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def assignees(self) -> Sequence[_Assignee]: ...
    @property
    def roles(self) -> Sequence[_RoleHolder]: ...
    @property
    def urgency(self) -> str: ...
    @property
    def triggered_at(self) -> datetime: ...
    @property
    def number(self) -> int: ...


def people_of(incident: Incident) -> tuple[str, ...]:
    """PagerDuty user ids of the incident's assignees."""
    return tuple(dict.fromkeys(p.id for p in incident.assignees))


def role_holders_of(incident: Incident) -> tuple[str, ...]:
    """Slack user ids of the people holding the incident's roles."""
    return tuple(dict.fromkeys(r.slack_user_id for r in incident.roles))


def concerns(incident: Incident, pagerduty_user_id: str | None, slack_user_id: str | None = None) -> bool:
    return ((pagerduty_user_id is not None and pagerduty_user_id in people_of(incident))
            or (slack_user_id is not None and slack_user_id in role_holders_of(incident)))


@dataclass(frozen=True)
class HomesToRefresh:
    """The App Homes a change to an incident makes stale: its assignees' (PagerDuty user ids) and its role holders'
    (Slack user ids), before and after the change."""

    incident_id: str
    pagerduty_user_ids: tuple[str, ...]
    slack_user_ids: tuple[str, ...] = ()


def home_refresh(before: Incident | None, after: Incident) -> HomesToRefresh | None:
    """Homes to publish again after a change: on opening, acknowledging, resolving or reopening the incident, and
    when who it concerns changes — for everyone it concerned before or concerns now. None: nobody's."""
    def state(incident: Incident) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return incident.status, people_of(incident), role_holders_of(incident)
    if before is not None and state(before) == state(after):
        return None
    people = tuple(dict.fromkeys((*(people_of(before) if before else ()), *people_of(after))))
    holders = tuple(dict.fromkeys((*(role_holders_of(before) if before else ()), *role_holders_of(after))))
    return HomesToRefresh(after.id, people, holders) if people or holders else None


def most_pressing(incident: Incident) -> tuple[bool, bool, datetime, int]:
    """The order of a Home's lists when they do not fit (a storm): high urgency first, then not yet acknowledged,
    then the longest open — as a handover lists what it hands over (bot/domain/handover.py)."""
    return incident.urgency != "high", incident.status == "acknowledged", incident.triggered_at, incident.number
