"""The catalogue's incident-response settings: who may do what from Slack (`permissions`), the incident roles and
status-update reminders (the incident manager's toolkit), the timeline reaction that marks key messages, when a
review is drafted, and how long the store keeps its bookkeeping (`retention`). Also the base every catalogue section
is validated with (`Section`: unknown keys refused, values frozen).

Kept beside `bot/catalogue.py` (which includes these in `Catalogue`) so that each module stays one concern: the
organisation there, how incidents are run here. The checks of values that sections share (a Slack channel; also the
incident managers' escalation policy id, services' and schedules' PagerDuty ids) are here too, each refusing in one
plain line that says what to write.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

DEFAULT_ROLES = ("commander", "communications")
COMMANDER = "commander"
_ROLE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
_EMOJI = re.compile(r"^[a-z0-9_+'-]{1,100}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,}$")  # as the Slack adapter tells an id from a name
_CHANNEL_EXAMPLES = {"default_announce_channel": "incidents", "operators_channel": "paved-road-ops",
                     "stakeholders": "incident-updates", "stakeholders_channel": "customer-updates"}


def _slack_channel(value: str, info: ValidationInfo) -> str:
    """A channel the bot can post to: a Slack channel name (lower case, no spaces, at most 80 letters, digits, - and
    _; a leading # is allowed), or a channel id."""
    name = value.removeprefix("#")
    if not name:
        example = _CHANNEL_EXAMPLES.get(info.field_name or "", "team-payments")
        raise ValueError(f"empty: name the Slack channel, e.g. {example!r}")
    if _CHANNEL_ID.match(name) or (len(name) <= 80 and name == name.lower() and re.fullmatch(r"[\w-]+", name)):
        return value
    fixed = re.sub(r"[^\w-]+", "-", name.lower()).strip("-")[:80]
    raise ValueError(f"{value!r} is not a Slack channel name: Slack's are lower case, with no spaces, at most 80 "
                     "letters, digits, '-' and '_'; write " + (repr(fixed) if fixed else "e.g. 'team-payments'"))


def _escalation_policy_id(value: str) -> str:
    if not value:
        raise ValueError("empty: give the incident managers' PagerDuty escalation policy id (e.g. 'PIMGR01', the end "
                         "of its address in PagerDuty), or remove the `incident_manager` section")
    if not re.fullmatch(r"[A-Z0-9]+", value):
        raise ValueError(f"{value!r} is not a PagerDuty id: write the id alone, capital letters and digits as in "
                         "the end of its address in PagerDuty (…/escalation_policies/PIMGR01 is 'PIMGR01')")
    return value


def _service_id(value: str) -> str:
    if not value.strip():  # a placeholder is allowed: `pavedroad provision` creates the service and says its id
        raise ValueError("empty: give the service's PagerDuty id (e.g. 'PBASKET', the end of its address in "
                         "PagerDuty), or a placeholder such as 'new-basket' for `pavedroad provision` to create it")
    return value


def _schedule_id(value: str) -> str:
    if not value.strip():
        raise ValueError("empty: give the schedule's PagerDuty id (e.g. 'PSCHED1', the end of its address in "
                         "PagerDuty)")
    return value


def _dedicated_for(value: object) -> object:
    if value in ("all", "high_urgency") or (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        return value
    raise ValueError(f"{value!r} is not allowed: write all, high_urgency, or a list of priorities, e.g. [P1, P2] "
                     "(the others get a card in the team's channel)")


def _emoji(value: str) -> str:
    if not _EMOJI.match(value):
        raise ValueError(f"{value!r} is not an emoji name: write the emoji's name without colons, e.g. pushpin")
    return value


SlackChannel = Annotated[str, AfterValidator(_slack_channel)]
EscalationPolicyId = Annotated[str, AfterValidator(_escalation_policy_id)]
ServiceId = Annotated[str, AfterValidator(_service_id)]  # an empty one matched no PagerDuty service, said nowhere
ScheduleId = Annotated[str, AfterValidator(_schedule_id)]
DedicatedFor = Annotated[Literal["all", "high_urgency"] | list[str], BeforeValidator(_dedicated_for)]


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
    status update for `remind_after` minutes (or by the time its last update's form gave) gets a reminder in its
    channel, again every `remind_after` minutes until it is resolved."""

    remind_after: float = Field(default=30, gt=0)
    remind_priorities: list[str] = Field(default_factory=list)


class TimelinePolicy(Section):
    # The reaction (its Slack name, without colons) that puts a person's message on the incident's timeline.
    reaction: Annotated[str, AfterValidator(_emoji)] = "pushpin"


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
